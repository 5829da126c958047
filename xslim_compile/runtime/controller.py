"""Controllers decide which variant each denoising call runs. Pure Python: no compiler, no torch.

The runtime calls, per call: observe(step, {"indicator": x}) when the controller wants_indicator,
then decide(step), runs the variant (possibly a fuller one, if caches are missing), then
commit(step, variant that ran). State is kept per CFG branch.
"""
from __future__ import annotations

import logging
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

from ..errors import ConfigError
from ..plan import ControllerSettings, Plan, PlanEntry, Variant, step_position

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepInfo:
    step: int                  # index within the generation, 0-based
    num_steps: int | None      # total steps when known (generation() or cache_context)
    branch: str                # CFG branch


@dataclass(frozen=True)
class Decision:
    variant: Variant
    reason: str
    reuse: tuple[int, ...] | None = None     # BLOCK: None lets the runtime's rule pick
    token_ratio: float | None = None         # TOKEN: None uses XSlimConfig.token_ratio
    signals: Mapping[str, float] = field(default_factory=dict)
    probe: float | None = None               # BLOCK: redo in full if the first block's residual changed
                                             # by this much or more since the last full step
    estimator: str | None = None             # SKIP/TOKEN: the forecast (None: XSlimConfig.estimator)


class Controller(Protocol):
    wants_indicator: bool
    def reset(self) -> None: ...
    def decide(self, step: StepInfo) -> Decision: ...
    def observe(self, step: StepInfo, signals: Mapping[str, float]) -> None: ...
    def commit(self, step: StepInfo, variant: Variant) -> None: ...
    def may_follow(self, step: StepInfo) -> frozenset[Variant]: ...


class _Stateless:
    wants_indicator = False

    def reset(self) -> None:
        pass

    def observe(self, step: StepInfo, signals: Mapping[str, float]) -> None:
        pass

    def commit(self, step: StepInfo, variant: Variant) -> None:
        pass


class ScheduleController(_Stateless):
    """A fixed list of entries, one per step; steps past its end (or no list at all) run full."""

    def __init__(self, schedule: Sequence[Variant | PlanEntry] | None) -> None:
        self.entries = None if schedule is None else tuple(
            e if isinstance(e, PlanEntry) else PlanEntry(0.0, e) for e in schedule)

    def entries_for(self, step: StepInfo) -> tuple[PlanEntry, ...] | None:
        return self.entries

    def decide(self, step: StepInfo) -> Decision:
        entries = self.entries_for(step)
        if entries is None:
            return Decision(Variant.FULL, "no schedule")
        if step.step >= len(entries):
            return Decision(Variant.FULL, f"past the schedule's {len(entries)} entries")
        entry = entries[step.step]
        return Decision(entry.variant, f"schedule[{step.step}]", entry.reuse, entry.token_ratio,
                        estimator=entry.estimator)

    def may_follow(self, step: StepInfo) -> frozenset[Variant]:
        """Variants scheduled after this step and before the next full one: what caches must serve."""
        following = set()
        for entry in (self.entries_for(step) or ())[step.step + 1:]:
            if entry.variant is Variant.FULL:
                break
            following.add(entry.variant)
        return frozenset(following)


class PlanController(ScheduleController):
    """A Plan's fixed entries, mapped onto the run's step count (see Plan for the mapping)."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(None)
        self.plan = plan
        self._by_steps: dict[int, tuple[PlanEntry, ...]] = {}
        self._warned = False

    def entries_for(self, step: StepInfo) -> tuple[PlanEntry, ...]:
        total = step.num_steps or int(self.plan.source.get("num_steps", 0)) or None
        if step.num_steps is None and not self._warned:
            self._warned = True
            logger.warning("the step count of this run is unknown; the plan assumes its calibration's %s "
                           "steps (use opt.generation(num_steps) to tell it)", total)
        if total is None:
            raise ConfigError("this plan needs the step count: use opt.generation(num_steps) or a pipeline "
                             "that passes num_inference_steps to cache_context, or store source['num_steps']")
        if total not in self._by_steps:
            self._by_steps[total] = tuple(self.plan.schedule(total))
        return self._by_steps[total]

    def decide(self, step: StepInfo) -> Decision:
        decision = super().decide(step)
        position = step_position(step.step, len(self.entries_for(step)))
        return Decision(decision.variant, f"plan at t/T={position:.2f}", decision.reuse, decision.token_ratio,
                        signals=self._predicted(position), estimator=decision.estimator)

    def _predicted(self, position: float) -> dict:
        """The calibration's predicted error at this position, both lines (for plot_trace)."""
        curves = self.plan.source.get("predicted") or {}
        since_computed, since_full = curves.get("since_computed"), curves.get("since_full")
        if not since_computed:
            return {}
        i = min(len(since_computed) - 1, int(position * (len(since_computed) - 1) + 0.5))
        return {"err": since_computed[i], "err_since_full": since_full[i], "warn": self.plan.warn, "crit": self.plan.crit}


def _interpolate(curve: Sequence[tuple[float, float]], x: float) -> float:
    xs = [p[0] for p in curve]
    i = bisect_left(xs, x)
    if i <= 0:
        return curve[0][1]
    if i >= len(curve):
        return curve[-1][1]
    (x0, y0), (x1, y1) = curve[i - 1], curve[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1


def _nearest(curve: Sequence[tuple[float, str]], x: float, default: str) -> str:
    return min(curve, key=lambda p: abs(p[0] - x))[1] if curve else default


def push_then_polish(since_computed: float, since_full: float, warn: float, crit: float, refresh: str) -> Variant:
    """The dual-threshold rule, shared by the online controller and calibration. Arguments are the err
    accumulated since the last computed / full step, this step included, and the refresh that fits
    here ("block", "token", or "full" where no refresh is cheap)."""
    if since_full >= crit:
        return Variant.FULL
    if since_computed >= warn:
        return Variant(refresh)
    return Variant.SKIP


@dataclass
class _Lines:
    since_computed: float = 0.0   # estimated err since the last computed (full or refresh) step
    since_full: float = 0.0       # estimated err since the last full step
    skips: int = 0
    estimate: float | None = None


class DualThresholdController:
    """Push-then-polish: skip while the accumulated estimate stays below warn; past warn, a cheap
    refresh (block or token, by the calibrated refresh curve); at or past crit, a full step, which
    resets everything. The estimate of a step's err is indicator × ratio(t/T)."""

    wants_indicator = True

    def __init__(self, settings: ControllerSettings, num_steps: int | None = None) -> None:
        if not settings.warn < settings.crit:
            raise ConfigError(f"ControllerSettings.warn={settings.warn!r} must be below crit={settings.crit!r}")
        self.settings, self.default_steps = settings, num_steps
        self.indicator_kind = settings.indicator
        self._lines: dict[str, _Lines] = {}

    def reset(self) -> None:
        self._lines.clear()

    def _state(self, step: StepInfo) -> _Lines:
        if step.step == 0 or step.branch not in self._lines:
            self._lines[step.branch] = _Lines()
        return self._lines[step.branch]

    def _position(self, step: StepInfo) -> float:
        total = step.num_steps or self.default_steps
        return step_position(step.step, total) if total else 0.5

    def observe(self, step: StepInfo, signals: Mapping[str, float]) -> None:
        if "indicator" in signals:
            ratio = _interpolate(self.settings.ratio_curve, self._position(step))
            self._state(step).estimate = signals["indicator"] * ratio

    def decide(self, step: StepInfo) -> Decision:
        s, lines = self.settings, self._state(step)
        total = step.num_steps or self.default_steps
        if step.step < s.first_full:
            return Decision(Variant.FULL, f"first {s.first_full} steps full")
        if s.last_full and total is not None and step.step >= total - 1:
            return Decision(Variant.FULL, "last step full")
        if lines.estimate is None:
            return Decision(Variant.FULL, "no indicator yet")
        computed, full = lines.since_computed + lines.estimate, lines.since_full + lines.estimate
        signals = {"estimate": lines.estimate, "err": computed, "err_since_full": full, "warn": s.warn,
                   "crit": s.crit}
        kind = _nearest(s.refresh_curve, self._position(step), "block")
        variant = push_then_polish(computed, full, s.warn, s.crit, kind)
        if variant is Variant.FULL and full >= s.crit:
            return Decision(variant, f"err {full:.3g} >= crit {s.crit:.3g}", signals=signals)
        if variant is Variant.SKIP and lines.skips < s.max_skips:
            return Decision(variant, f"err {computed:.3g} < warn {s.warn:.3g}", signals=signals,
                            estimator=s.estimator)
        why = f"err {computed:.3g} >= warn {s.warn:.3g}" if computed >= s.warn else f"{lines.skips} skips in a row"
        if kind == "full":
            return Decision(Variant.FULL, f"{why}: no cheap refresh here", signals=signals)
        if kind == "token":
            return Decision(Variant.TOKEN, f"{why}: token refresh", token_ratio=s.token_ratio, signals=signals,
                            estimator=s.estimator)
        return Decision(Variant.BLOCK, f"{why}: block refresh", signals=signals)

    def commit(self, step: StepInfo, variant: Variant) -> None:
        lines = self._state(step)
        estimate, lines.estimate = lines.estimate or 0.0, None
        if variant is Variant.FULL:
            lines.since_computed = lines.since_full = 0.0
            lines.skips = 0
        elif variant is Variant.SKIP:
            lines.since_computed += estimate
            lines.since_full += estimate
            lines.skips += 1
        else:  # a refresh: the cheap correction resets the short line, not the long one
            lines.since_computed = 0.0
            lines.since_full += estimate
            lines.skips = 0

    def may_follow(self, step: StepInfo) -> frozenset[Variant]:
        return frozenset({Variant.SKIP} | (self.settings.refreshes - {Variant.FULL}))


class TeaCacheController(DualThresholdController):
    """Accumulated-indicator step skipping without polish (TeaCache-like): skip while the estimate
    accumulated since the last full step stays below the threshold, then a full step."""

    def __init__(self, threshold: float, ratio_curve, first_full: int = 1, num_steps: int | None = None) -> None:
        super().__init__(ControllerSettings(warn=threshold, crit=2 * threshold, ratio_curve=tuple(ratio_curve),
                                            first_full=first_full, max_skips=10 ** 6), num_steps)

    def decide(self, step: StepInfo) -> Decision:
        s, lines = self.settings, self._state(step)
        total = step.num_steps or self.default_steps
        if step.step < s.first_full or (total is not None and step.step >= total - 1) or lines.estimate is None:
            return Decision(Variant.FULL, "first/last step or no indicator yet")
        err = lines.since_full + lines.estimate
        signals = {"estimate": lines.estimate, "err": err}
        if err >= s.warn:
            return Decision(Variant.FULL, f"err {err:.3g} >= threshold {s.warn:.3g}", signals=signals)
        return Decision(Variant.SKIP, f"err {err:.3g} < threshold {s.warn:.3g}", signals=signals)

    def may_follow(self, step: StepInfo) -> frozenset[Variant]:
        return frozenset({Variant.SKIP})


class EveryNController(_Stateless):
    """Uniform reuse every N steps: a full step when step % N == 0 (and the last step); in between
    `between` (skip: FORA-like step reuse; block with a fixed reuse set: Δ-DiT-like block caching)."""

    def __init__(self, every: int, between: Variant = Variant.SKIP, reuse: tuple[int, ...] | None = None) -> None:
        if every < 1:
            raise ConfigError(f"every must be >= 1, got {every}")
        self.every, self.between, self.reuse = every, between, reuse

    def decide(self, step: StepInfo) -> Decision:
        last = step.num_steps is not None and step.step >= step.num_steps - 1
        if step.step % self.every == 0 or last:
            return Decision(Variant.FULL, f"every {self.every}")
        return Decision(self.between, f"between full steps (every {self.every})", self.reuse)

    def may_follow(self, step: StepInfo) -> frozenset[Variant]:
        return frozenset({self.between})


class FirstBlockController(_Stateless):
    """First-block residual caching (FBCache-like): each step computes the first block only and reuses
    the cached residuals of all others; if the first block's residual changed by `threshold` or more
    (relative L1, against the last full step), the runtime redoes the step in full."""

    def __init__(self, threshold: float, num_blocks: int, first_full: int = 1) -> None:
        self.threshold, self.first_full = threshold, first_full
        self.reuse = tuple(range(1, num_blocks))

    def decide(self, step: StepInfo) -> Decision:
        last = step.num_steps is not None and step.step >= step.num_steps - 1
        if step.step < self.first_full or last:
            return Decision(Variant.FULL, "first/last step")
        return Decision(Variant.BLOCK, f"first block only, unless it changed >= {self.threshold}", self.reuse,
                        probe=self.threshold)

    def may_follow(self, step: StepInfo) -> frozenset[Variant]:
        return frozenset({Variant.BLOCK})


def controller_for(plan: Plan | None, schedule) -> "Controller":
    """The controller a configuration implies: the online one for a plan with controller settings,
    the plan's schedule, else the fixed list (used by the runtime and the bundle runner alike)."""
    if plan is not None and plan.controller is not None:
        return DualThresholdController(plan.controller, plan.source.get("num_steps"))
    if plan is not None:
        return PlanController(plan)
    return ScheduleController(schedule)
