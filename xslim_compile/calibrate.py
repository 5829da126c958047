"""Calibration: one to a few full-compute generations -> a Plan.

Measured per step (averaged over generations and CFG branches):
- err_t = ‖Δ_t − Δ_{t−1}‖₁ / ‖Δ_{t−1}‖₁, the relative change of the stack residual (the unit of both lines);
- indicator_t, the relative L1 change of the latent input (what the online controller sees);
- the per-block residual sizes e_l (for the block-reuse set) and the share of the residual change held
  by the most-changed half of the image tokens (a concentrated change favours a token refresh).

Both lines are in units of err_t: warn = s × m with m = mean(err_t) over steps 1..T−1, and
crit = κ × warn. The scale s is the smallest that reaches an ideal speedup (counted from the FLOPs of
each variant on the calibration inputs): the preset's, or `target_speedup=`. Presets follow the
released modes' step-only speedups, so a preset means the same speed on every model and the curve
decides where the computed steps go:
- "slow": 3.0x ideal, κ = 2.5, token refreshes recompute 50% of the image tokens;
- "fast": 4.5x ideal, κ = 2.0, token refreshes recompute 70%.
A preset whose speedup the run cannot reach (few steps) takes the most it can, and says so in the
plan's source; an explicit target_speedup that cannot be reached raises ConfigError.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .config import XSlimConfig
from .errors import ConfigError
from .plan import ControllerSettings, Plan, PlanEntry, Variant, config_hash, step_position
from .runtime.controller import ScheduleController, StepInfo, push_then_polish
from .runtime.policies import relative_change, select_reuse_blocks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    speedup: float          # ideal (FLOPs) speedup the lines are set for
    crit_over_warn: float
    token_ratio: float


PRESETS = {"slow": Preset(3.0, 2.5, 0.5), "fast": Preset(4.5, 2.0, 0.7)}
TOKEN_CONCENTRATION = 0.6   # share of the change in the top half of the tokens that favours a token refresh
MAX_REFRESH_COST = 0.6      # a block refresh dearer than this (few blocks reusable) is no polish: run full
FIRST_FULL = 4


class _ProfileController(ScheduleController):
    """Every step full, with block residuals, so that each step's signals can be measured."""

    def __init__(self) -> None:
        super().__init__(None)

    def may_follow(self, step: StepInfo) -> frozenset[Variant]:
        return frozenset({Variant.BLOCK})


class _Recorder:
    """Collects device values after each call; read once at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, list[torch.Tensor]]] = []
        self.previous: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.starts = 0   # step-0 calls: generations × branches

    def __call__(self, info, key, state, latent) -> None:
        delta = next(v for k, v in state.caches.items() if k.startswith("delta."))
        if info.step == 0:
            self.previous.pop(info.branch, None)
            self.starts += 1
        before = self.previous.get(info.branch)
        self.previous[info.branch] = (delta.detach().clone(), latent.detach().clone())
        if before is None:
            return
        change = (delta - before[0]).float().abs()
        per_token = change.mean(dim=-1)                                 # [B, N]
        top = per_token.sort(dim=1, descending=True).values[:, : max(1, per_token.shape[1] // 2)]
        concentration = (top.sum(dim=1) / per_token.sum(dim=1).clamp_min(1e-12)).mean()
        err = change.sum() / before[0].float().abs().sum().clamp_min(1e-12)
        values = [err, relative_change(latent, before[1]), concentration, state.caches["block_energy"].float()]
        self.rows.append((info.branch, info.step, values))


@contextmanager
def _swapped(pipe, module):
    original = pipe.transformer
    pipe.transformer = module
    try:
        yield
    finally:
        pipe.transformer = original


def _flops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def profile(target, inputs: Sequence[dict] | None = None, run: Callable | None = None,
            progress: bool = True) -> dict:
    """Run full-compute generations through a recording module; return the per-step curves."""
    from .api import optimize

    model = target.transformer if hasattr(target, "transformer") else target
    opt = optimize(model, XSlimConfig(check_finite=False), controller=_ProfileController())
    recorder = _Recorder()
    opt.observers.append(recorder)
    if run is not None:
        run(opt)
    else:
        if not inputs:
            raise ConfigError("calibrate() needs inputs=[pipeline call kwargs, ...] for a pipeline, or run=")
        from tqdm import tqdm

        with _swapped(target, opt):
            for kwargs in tqdm(inputs, desc="calibrate", disable=not progress):
                target(**kwargs)
    if not recorder.rows:
        raise ConfigError("the calibration run made fewer than two denoising calls per branch")
    flat = torch.cat([torch.cat([v.reshape(-1) for v in vals]) for *_, vals in recorder.rows])
    width = flat.numel() // len(recorder.rows)
    table = flat.reshape(len(recorder.rows), width).tolist()
    steps = max(step for _, step, _ in recorder.rows) + 1
    sums = [[0.0] * width for _ in range(steps)]
    counts = [0] * steps
    for (_, step, _), row in zip(recorder.rows, table):
        counts[step] += 1
        sums[step] = [a + b for a, b in zip(sums[step], row)]
    mean = [[v / counts[t] for v in sums[t]] if counts[t] else None for t in range(steps)]
    variants = next(iter(opt._variant_sets.values()))
    return {"num_steps": steps, "model": model, "variants": variants,
            "err": [m[0] if m else None for m in mean], "indicator": [m[1] if m else None for m in mean],
            "concentration": [m[2] if m else None for m in mean],
            "energies": [m[3:] if m else None for m in mean],
            "generations": recorder.starts // max(1, len({b for b, _, _ in recorder.rows}))}


def _costs(curves: dict, token_ratio: float, reuse_share: float) -> dict:
    """Relative cost per variant from FLOPs on the calibration inputs (full = 1)."""
    from .runtime.variant_set import VariantKey

    variants = curves["variants"]
    args = variants.builder.args
    full = variants.get(VariantKey(Variant.FULL, residuals=True))
    skip = variants.get(VariantKey(Variant.SKIP))
    with torch.no_grad():
        _, caches = full(args, {})
        total = _flops(lambda: full(args, {}))
        outside = _flops(lambda: skip(args, caches)) / total
    return {"full": 1.0, "skip": outside, "token": outside + (1 - outside) * token_ratio,
            "block": outside + (1 - outside) * (1 - reuse_share)}


def _refresh_kind(concentration: float | None, block_cost: float) -> str:
    """The cheap refresh that fits a step: token where the change sits on few tokens, else block if
    enough blocks are reusable to make it cheap, else none (the step stays full)."""
    if (concentration or 0.0) >= TOKEN_CONCENTRATION:
        return "token"
    return "block" if block_cost <= MAX_REFRESH_COST else "full"


def _simulate(err: list, warn: float, crit: float, kinds: list[str], costs: dict) -> tuple[list[str], float]:
    """The controller's dual-threshold rule (push_then_polish) run on the measured curve: skip until the
    err accumulated since the last computed step reaches warn, then a cheap refresh, and a full step
    once the err since the last full step reaches crit. One variant per step and the ideal speedup."""
    steps = len(err)
    plan, since_computed, since_full = [], 0.0, 0.0
    for t in range(steps):
        if t < FIRST_FULL or t == steps - 1 or err[t] is None:
            plan.append("full")
            since_computed = since_full = 0.0
            continue
        since_computed += err[t]
        since_full += err[t]
        variant = push_then_polish(since_computed, since_full, warn, crit, kinds[t]).value
        plan.append(variant)
        if variant == "full":
            since_computed = since_full = 0.0
        elif variant != "skip":
            since_computed = 0.0
    return plan, steps / sum(costs[v] for v in plan)


def calibrate(target, inputs: Sequence[dict] | None = None, run: Callable | None = None, preset: str = "fast",
              target_speedup: float | None = None, online: bool = False, progress: bool = True) -> Plan:
    """Profile full-compute generations and return a Plan.

    target: a diffusers pipeline (its transformer is swapped for a profiling module during the calls
    `pipe(**kwargs)` for each of `inputs`, and restored), or a denoiser with `run(module)` running one
    or more generations with the module it is given. online=True returns controller settings for the
    DualThresholdController instead of a fixed schedule.
    """
    if preset not in PRESETS:
        raise ConfigError(f"preset={preset!r} is not known; expected one of {sorted(PRESETS)}")
    curves = profile(target, inputs, run, progress)
    p = PRESETS[preset]
    err = curves["err"]
    measured = [e for e in err[1:] if e is not None]
    mean_err = sum(measured) / len(measured)
    stack = curves["variants"].stack
    plateau = [t for t in range(1, len(err)) if err[t] is not None and err[t] <= sorted(measured)[len(measured) // 2]]
    energies = [sum(curves["energies"][t][l] for t in plateau) / len(plateau) for l in range(stack.num_blocks)]
    reuse = select_reuse_blocks(energies, stack.chain_starts(), FIRST_FULL)
    costs = _costs(curves, p.token_ratio, len(reuse) / stack.num_blocks)
    kinds = [_refresh_kind(c, costs["block"]) for c in curves["concentration"]]
    max_skips = 12  # online only: a guard against an indicator that stays flat

    def lines(scale: float) -> tuple[float, float]:
        warn = scale * mean_err
        return warn, warn * p.crit_over_warn

    def speedup(scale: float) -> float:
        return _simulate(err, *lines(scale), kinds, costs)[1]

    scale, note = _search_scale(speedup, target_speedup or p.speedup, strict=target_speedup is not None)
    warn, crit = lines(scale)
    schedule, ideal = _simulate(err, warn, crit, kinds, costs)
    steps = curves["num_steps"]
    model = curves["model"]
    source = {
        "model_class": type(model).__name__, "config_hash": config_hash(model), "num_steps": steps,
        "sampler": type(getattr(target, "scheduler", None)).__name__ if hasattr(target, "scheduler") else "custom",
        "preset": preset, "target_speedup": target_speedup, "ideal_speedup": round(ideal, 4),
        "thresholds": f"warn = {scale:.3f} x mean(err_t) = {warn:.5f}; crit = {p.crit_over_warn} x warn; {note}",
        "generations": curves["generations"], "costs": costs,
        "profile": {"err": err, "indicator": curves["indicator"], "concentration": curves["concentration"]},
    }
    if online:
        ratio = [(step_position(t, steps), err[t] / max(curves["indicator"][t], 1e-12))
                 for t in range(1, steps) if err[t] is not None]
        refresh = [(step_position(t, steps), kinds[t]) for t in range(1, steps) if err[t] is not None]
        settings = ControllerSettings(warn, crit, tuple(ratio), tuple(refresh), p.token_ratio, FIRST_FULL, True,
                                      max_skips)
        return Plan(warn, crit, controller=settings, source=source)
    entries = tuple(PlanEntry(step_position(t, steps), Variant(v), reuse if v == "block" else None,
                              p.token_ratio if v == "token" else None)
                    for t, v in enumerate(schedule) if v != "skip")
    logger.info("calibrated %s plan: %s (ideal speedup %.2fx)", preset, schedule, ideal)
    return Plan(warn, crit, entries=entries, source=source, first_full=FIRST_FULL, last_full=True)


def _search_scale(speedup: Callable[[float], float], target: float, strict: bool) -> tuple[float, str]:
    """Smallest warn scale whose ideal speedup reaches the target (speedup grows with the scale)."""
    low, high = 0.0, 1.0
    while speedup(high) < target:
        high *= 2
        if high > 1e4:
            best = speedup(high)
            if strict:
                raise ConfigError(f"target_speedup={target} is out of reach; the most this profile allows is "
                                  f"{best:.2f}x ideal")
            return high, f"the preset's {target}x ideal is out of reach: the most is {best:.2f}x"
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if speedup(mid) < target else (low, mid)
    return high, f"set for {target}x ideal"
