"""Calibration: a profile of full-compute generations -> a Plan.

1. Profile (profiling.py): full-compute generations record every step's stack residual Δ_t and
   block residuals; `sensitivity_probes` extra generations each skip one step to measure how much
   a residual error at that step moves the final sample.
2. Costs (costs.py): every variant the plan may use is timed on the calibration inputs (`costs=`
   overrides; FLOPs are reported beside them).
3. Candidates (planner.py): for each estimator set of CANDIDATE_ESTIMATORS (the planner picks an
   estimator per skip span within the set), with and without polish, push-then-polish over the
   predicted final-sample error with two lines warn = s × m and crit = κ × warn (m: the mean
   predicted error of a one-step reuse). The scale s is the smallest that reaches the ideal speedup
   (by measured costs) of the preset or `target_speedup=`:
   - "slow": 3.0x, κ = 2.5, token refreshes recompute 50% of the image tokens;
   - "fast": 4.5x, κ = 2.0, token refreshes recompute 70%.
   Each is tried with no cap on consecutive skips and with caps near the even spacing that reaches
   the goal (_max_spans); the last step is planned too where the run returns its final samples.
4. Validation: each distinct candidate plan runs on the calibration's own inputs, and the one whose
   final samples are closest to full compute wins (the error model assumes exact history points; a
   real run's computed steps carry the drift of the skips before them, which favours some estimators
   over others in ways the model does not see).
A preset the run cannot reach (few steps) takes the most it can and says so in the plan's source; an
explicit target_speedup that no candidate reaches raises ConfigError.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from .costs import measure_costs, variant_keys
from .errors import ConfigError
from .forecast import ESTIMATORS, get_estimator
from .plan import ControllerSettings, Plan, PlanEntry, Variant, config_hash, step_position
from .planner import ErrorModel, PlanRule, plan_cost, simulate
from . import profiling
from .profiling import FIRST_FULL, Profile, indicator_correlations
from .runtime.policies import relative_change, select_reuse_blocks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    speedup: float          # ideal speedup (measured step costs) the lines are set for
    crit_over_warn: float
    token_ratio: float


PRESETS = {"slow": Preset(3.0, 2.5, 0.5), "fast": Preset(4.5, 2.0, 0.7)}
REFRESHES = ("token", "block")
# estimator sets a plan may be made from; each is planned and validated (per-span choice within a set)
CANDIDATE_ESTIMATORS = (("reuse",), ("taylor1",), ("taylor2",), ("reuse", "taylor1"), tuple(ESTIMATORS))
SPAN_SLACK = (0, 1, 2)   # caps on consecutive skips tried: the even spacing's span plus these (see _max_spans)
COST_NAMES = ("full", "skip", "skip2", "skip3", "token", "block")


def calibrate(target=None, inputs: Sequence[dict] | None = None, run: Callable | None = None, preset: str = "fast",
              target_speedup: float | None = None, online: bool = False, progress: bool = True,
              estimators: Sequence[str] | None = None, refreshes: Sequence[str] = REFRESHES,
              costs: dict | None = None, sensitivity_probes: int = 6, validate: bool = True,
              profile: Profile | None = None) -> Plan:
    """Profile full-compute generations and return a Plan.

    target: a diffusers pipeline (its transformer is swapped for a profiling module during the calls
    `pipe(**kwargs)` for each of `inputs`, and restored), or a denoiser with `run(module)` running one
    or more generations with the module it is given; or `profile=` from xs.profile(). The run must be
    deterministic (seeded). online=True returns settings for the DualThresholdController instead of a
    fixed schedule. estimators: the forecasts calibration may choose from (default: every candidate
    set in CANDIDATE_ESTIMATORS, each validated); refreshes: the polish kinds it may use (plans
    without polish are candidates too); costs: relative step costs overriding the measured ones;
    validate: run each candidate plan on the calibration's inputs and keep the one whose final sample
    is closest to full compute (else: the smallest predicted error).
    """
    if preset not in PRESETS:
        raise ConfigError(f"preset={preset!r} is not known; expected one of {sorted(PRESETS)}")
    sets = [tuple(estimators)] if estimators is not None else list(CANDIDATE_ESTIMATORS)
    unknown = [n for names in sets for n in names if n not in ESTIMATORS] + [r for r in refreshes if r not in REFRESHES]
    bad_costs = sorted(set(costs or {}) - set(COST_NAMES))
    if unknown or not all(sets) or bad_costs:
        raise ConfigError(f"calibrate(): unknown estimators/refreshes {unknown} or cost names {bad_costs}; expected "
                          f"estimators from {list(ESTIMATORS)}, refreshes from {list(REFRESHES)}, costs from "
                          f"{list(COST_NAMES)}")
    if profile is None:
        if target is None:
            raise ConfigError("calibrate() needs a target (pipeline or denoiser) or profile=")
        profile = profiling.profile(target, inputs, run, sensitivity_probes, progress)
    p = PRESETS[preset]
    model = ErrorModel(profile)
    reuse = _reuse_set(profile) if "block" in refreshes else ()
    token_ratio = p.token_ratio if "token" in refreshes else None
    measured, flops = _costs(profile, token_ratio, reuse)
    step_costs = {**measured, **(costs or {})}
    goal = target_speedup or p.speedup
    polish_options = [()] + ([tuple(refreshes)] if refreshes else [])
    last_full = not profile.plans_last_step
    candidates, seen = [], set()
    for names in sets:
        for polish in polish_options:
            for max_span in _max_spans(profile.num_steps, goal):
                rule = PlanRule(0.0, 0.0, names, step_costs, token_ratio if "token" in polish else None,
                                reuse if "block" in polish else (), FIRST_FULL, max_span, last_full)
                candidate = _plan_for(model, rule, p.crit_over_warn, goal)
                key = tuple((s.variant, s.estimator) for s in candidate["steps"])
                if key not in seen and (max_span is None or _reaches(candidate, goal)):
                    seen.add(key)
                    candidates.append(candidate)
    if target_speedup is not None:  # an explicit target must be met; a preset takes the most it can
        reached = [c for c in candidates if _reaches(c, goal)]
        if not reached:
            raise ConfigError(f"target_speedup={goal} is out of reach; the most this profile allows is "
                              f"{max(c['ideal'] for c in candidates):.2f}x ideal (by measured step costs)")
        candidates = reached
    for candidate in candidates:
        candidate["plan"] = _fixed_plan(candidate, profile, token_ratio, reuse, step_costs)
        if validate and len(candidates) > 1:
            candidate["realized"] = profiling.measure_plan_error(profile, candidate["plan"])
    best = min(candidates, key=lambda c: c.get("realized", c["predicted"]))
    steps, chosen = best["steps"], best["rule"]
    T, scale = profile.num_steps, profile.final_scale
    source = {
        "model_class": type(profile.model).__name__, "config_hash": config_hash(profile.model), "num_steps": T,
        "sampler": profile.sampler, "preset": preset, "target_speedup": target_speedup,
        "ideal_speedup": round(best["ideal"], 4), "flops_speedup": round(T / plan_cost(steps, flops), 4),
        "thresholds": best["note"], "generations": len(profile.runs), "costs_measured": measured, "flops": flops,
        "last_step": "full (the run returns no final sample to measure it by)" if chosen.last_full else
                     "planned by its measured sensitivity (the run returns its final samples)",
        "max_span": chosen.max_span,
        "estimators": list(chosen.estimators), "refreshes": [k for k in REFRESHES if k in best["polish"]],
        "variant_counts": {v: sum(s.variant == v for s in steps) for v in ("full", "token", "block", "skip")},
        "estimator_counts": {n: sum(s.variant == "skip" and s.estimator == n for s in steps) for n in ESTIMATORS},
        "predicted_relative_error": best["predicted"] / max(scale, 1e-30),
        "candidates": [{"estimators": list(c["rule"].estimators), "refreshes": list(c["polish"]),
                        "max_span": c["rule"].max_span,
                        "computed": [t for t, s in enumerate(c["steps"]) if s.variant != "skip"],
                        "ideal_speedup": round(c["ideal"], 3), "predicted_relative_error": c["predicted"] / scale,
                        "realized_relative_error": c["realized"] / scale if "realized" in c else None,
                        "variant_counts": {v: sum(s.variant == v for s in c["steps"]) for v in ("full", "token", "block")}}
                       for c in candidates],
        "polish": [(t, s.polish) for t, s in enumerate(steps) if s.polish],
        "indicators": indicator_correlations(profile),
        "profile": {"err": _err_curve(profile), "sensitivity": profile.sensitivity, "probes": profile.probes,
                    "unit": [None] + [model.unit(t) for t in range(1, T)]},
        "predicted": {"since_computed": [s.since_computed for s in steps],
                      "since_full": [s.since_full for s in steps]},
    }
    logger.info("calibrated %s plan: %s (ideal speedup %.2fx)", preset, [s.variant for s in steps], best["ideal"])
    if online:
        return _online_plan(model, chosen, steps, profile, source, speedup_target=best["ideal"])
    return Plan(chosen.warn, chosen.crit, entries=best["plan"].entries, source=source, first_full=FIRST_FULL,
                last_full=chosen.last_full, costs=step_costs)


def _plan_for(model: ErrorModel, base: PlanRule, crit_over_warn: float, goal: float) -> dict:
    """The smallest lines that reach the goal speedup for one candidate (estimators, polish)."""
    T = model.num_steps
    unit = sum(model.unit(t) for t in range(FIRST_FULL, T - 1)) / max(1, T - 1 - FIRST_FULL)

    def rule(scale: float) -> PlanRule:
        return replace(base, warn=scale * unit, crit=scale * unit * crit_over_warn)

    def speedup(scale: float) -> float:
        return T / plan_cost(simulate(model, rule(scale)), base.costs)

    scale, note = _search_scale(speedup, goal)
    chosen = rule(scale)
    steps = simulate(model, chosen)
    polish = tuple(k for k, on in (("token", base.token_ratio), ("block", base.reuse)) if on)
    return {"rule": chosen, "steps": steps, "polish": polish, "ideal": T / plan_cost(steps, base.costs),
            "predicted": sum(s.error for s in steps),
            "note": f"warn = {scale:.3f} x m (m = {unit:.4g}, mean one-step drift error) = {chosen.warn:.4g}; "
                    f"crit = {crit_over_warn} x warn; {note}"}


def _fixed_plan(candidate: dict, profile: Profile, token_ratio, reuse, costs: dict) -> Plan:
    T, rule = profile.num_steps, candidate["rule"]
    entries = tuple(PlanEntry(step_position(t, T), Variant(s.variant), reuse if s.variant == "block" else None,
                              token_ratio if s.variant == "token" else None, s.estimator)
                    for t, s in enumerate(candidate["steps"]) if s.variant != "skip")
    source = {"model_class": type(profile.model).__name__, "config_hash": config_hash(profile.model), "num_steps": T}
    return Plan(rule.warn, rule.crit, entries=entries, source=source, first_full=FIRST_FULL,
                last_full=rule.last_full, costs=costs)


def _reaches(candidate: dict, goal: float) -> bool:
    return candidate["ideal"] >= goal * (1 - 1e-9)


def _max_spans(T: int, goal: float) -> list[int | None]:
    """Caps on consecutive skips tried beside the lines alone: around the even spacing that reaches the
    goal after the first full steps (a cap below it cannot reach the goal)."""
    computed = max(FIRST_FULL + 1, math.ceil(T / goal))
    even = math.ceil((T - FIRST_FULL) / (computed - FIRST_FULL)) - 1
    return [None] + [even + k for k in SPAN_SLACK]


def _reuse_set(profile: Profile) -> tuple[int, ...]:
    """Blocks a block refresh reuses: the accumulated-residual rule on the residual sizes of the
    low-change plateau (steps whose drift is below the median)."""
    T = profile.num_steps
    err = _err_curve(profile)
    measured = sorted(e for e in err if e is not None)
    plateau = [t for t in range(1, T) if err[t] is not None and err[t] <= measured[len(measured) // 2]]
    blocks = len(profile.energies[0])
    energies = [sum(profile.energies[t][l] for t in plateau) / len(plateau) for l in range(blocks)]
    return select_reuse_blocks(energies, profile.variants.stack.chain_starts(), FIRST_FULL)


def _costs(profile: Profile, token_ratio: float | None, reuse: tuple[int, ...]) -> tuple[dict, dict]:
    """Measured once per profile and refresh setting."""
    cache = profile.__dict__.setdefault("_costs", {})
    key = (token_ratio, reuse)
    if key not in cache:
        cache[key] = measure_costs(profile.variants, variant_keys(profile.variants, token_ratio, reuse))
    return cache[key]


def _err_curve(profile: Profile) -> list[float | None]:
    """err_t = ‖Δ_t − Δ_{t−1}‖₁ / ‖Δ_{t−1}‖₁, the paper's relative change, averaged over runs."""
    runs = profile.runs
    return [None] + [sum(float(relative_change(r.deltas[t], r.deltas[t - 1])) for r in runs) / len(runs)
                     for t in range(1, profile.num_steps)]


def _online_plan(model: ErrorModel, chosen: PlanRule, steps, profile: Profile, source: dict,
                 speedup_target: float) -> Plan:
    """Settings for the online controller. Its estimate of a step's error is indicator × ratio(t/T):
    the indicator is the free one that correlates best with err_t on the profile (the latent's
    relative change, or EasyCache's k × that change), the ratio curve maps it to the predicted error of
    a one-step reuse there. The lines are set so that on the profiled run it reaches the fixed plan's
    speed; refreshes follow the fixed plan's polish decisions (nearest in t/T)."""
    from .runtime.controller import push_then_polish

    T = profile.num_steps
    correlations = source["indicators"]
    kind = "easycache" if correlations.get("easycache", -1) > correlations.get("latent", -1) else "latent"
    indicator = [sum(_indicator(r, t, kind) for r in profile.runs) / len(profile.runs) for t in range(T)]
    estimate = [0.0] + [model.unit(t) for t in range(1, T)]
    ratio = tuple((step_position(t, T), estimate[t] / max(indicator[t], 1e-12)) for t in range(1, T))
    refresh = tuple((step_position(t, T), s.polish) for t, s in enumerate(steps) if s.polish) or ((0.5, "full"),)
    kinds = [min(refresh, key=lambda p: abs(p[0] - step_position(t, T)))[1] for t in range(T)]
    costs = chosen.costs
    counts = source["estimator_counts"]
    estimator = max(chosen.estimators, key=lambda n: counts.get(n, 0))
    skip_cost = costs.get({1: "skip", 2: "skip2", 3: "skip3"}[get_estimator(estimator).order], 0.0)

    def run(warn: float) -> float:
        crit, c, f, total = warn * chosen.crit / chosen.warn, 0.0, 0.0, 0.0
        for t in range(T):
            variant = Variant.FULL if t < FIRST_FULL or t == T - 1 else \
                push_then_polish(c + estimate[t], f + estimate[t], warn, crit, kinds[t])
            total += skip_cost if variant is Variant.SKIP else costs.get(variant.value, 1.0)
            c, f = (0.0, 0.0) if variant is Variant.FULL else (c + estimate[t], f + estimate[t])
            c = c if variant is Variant.SKIP else 0.0
        return T / total

    warn, _ = _search_scale(run, speedup_target)
    settings = ControllerSettings(warn, warn * chosen.crit / chosen.warn, ratio, refresh,
                                  chosen.token_ratio or 0.5, FIRST_FULL, True, 12, estimator, kind)
    source = {**source, "online_indicator": f"{kind} (correlation with err_t {correlations.get(kind):.2f} on the "
                                            f"profile; read with the call's one host read)"}
    return Plan(settings.warn, settings.crit, controller=settings, source=source, costs=dict(costs))


def _indicator(run, t: int, kind: str) -> float:
    if t == 0:
        return 0.0
    latent = float(run.latent_change[t])
    if kind == "latent" or t < 2:
        return latent
    return float(run.output_change[t - 1]) / max(float(run.latent_change[t - 1]), 1e-12) * latent


def _search_scale(speedup: Callable[[float], float], target: float) -> tuple[float, str]:
    """Smallest scale whose ideal speedup reaches the target (speedup grows with the scale); the
    largest tried when none does."""
    low, high = 0.0, 1.0
    while speedup(high) < target:
        high *= 2
        if high > 1e6:
            return high, f"{target}x ideal is out of reach: the most is {speedup(high):.2f}x"
    for _ in range(30):
        mid = (low + high) / 2
        low, high = (mid, high) if speedup(mid) < target else (low, mid)
    return high, f"set for {target}x ideal"
