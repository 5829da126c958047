"""Push-then-polish on a profile: which steps skip (with which forecast), which refresh, which run full.

Error model: an approximate step t adds s_t · e_t to the final sample's error (mean absolute value),
where e_t is the mean |Δ̂_t − Δ_t| of the step's residual estimate on the profiled runs and s_t the
measured sensitivity of the final sample to residual errors at t (profiling.py). e_t of a skip is
its forecast's error from the computed steps before it; of a token refresh, the forecast's error on
the rows it does not recompute; of a block refresh, the drift of the reused blocks' residuals since
the last full step.

The rule (both lines in those units): after each computed step, every candidate estimator is run
forward; a span of skips lasts while the error accumulated since the last computed step stays below
warn and the error since the last full step below crit, and for at most max_span steps (a cap that
calibration tries as a candidate: the model's errors assume exact history points, and over long
spans a real run's drift grows faster than predicted). The estimator with the longest span wins
(ties: the smaller error), so a forecast that overshoots loses to reuse where Δ bends. The step that
ends the span is computed: in full if the error since the last full step reaches crit, else the
polish with the largest error reduction per unit of measured cost over skipping (token, block or
full; never a variant that costs as much as full).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .forecast import forecast_weights, get_estimator
from .profiling import Profile

CHUNK = 8  # span errors are computed this many steps at a time, as far as a span reaches


@dataclass(frozen=True)
class PlanRule:
    warn: float
    crit: float
    estimators: tuple[str, ...]
    costs: dict = field(default_factory=dict)     # measured, full = 1 (see costs.py)
    token_ratio: float | None = None              # None: no token refresh
    reuse: tuple[int, ...] = ()                   # blocks a block refresh reuses (empty: none)
    first_full: int = 4
    max_span: int | None = None                   # at most this many skips in a row (None: the lines alone)
    last_full: bool = True                        # False: the last step is planned like the others


@dataclass(frozen=True)
class Step:
    variant: str            # full | skip | token | block
    estimator: str | None   # skip/token: the forecast of the approximate rows
    order: int              # history terms that forecast reads
    error: float            # predicted final error this step adds
    since_computed: float   # accumulated predicted error after this step
    since_full: float
    polish: str | None = None   # where warn was crossed: the refresh chosen ("full" if none paid)


class ErrorModel:
    """Predicted final-sample errors of approximate steps, from a profile (see the module docstring)."""

    def __init__(self, profile: Profile) -> None:
        self.num_steps = profile.num_steps
        self.sensitivity = profile.sensitivity or [1.0] * profile.num_steps
        self.deltas = [torch.stack(r.deltas) for r in profile.runs]         # [T, rows, tokens, channels']
        self.residuals = [torch.stack(r.residuals) for r in profile.runs]   # [T, blocks, elements']
        self._spans: dict[tuple, list[float]] = {}

    def unit(self, t: int) -> float:
        """Predicted final error of reusing Δ_{t−1} at step t (the one-step drift)."""
        drift = sum(float((d[t] - d[t - 1]).abs().mean()) for d in self.deltas) / len(self.deltas)
        return self.sensitivity[t] * drift

    def _forecast(self, deltas: torch.Tensor, name: str, steps: list[int], history: list[int]) -> torch.Tensor:
        estimator = get_estimator(name)
        points = history[:estimator.order]
        weights = torch.tensor([forecast_weights(estimator, t, points) for t in steps], dtype=deltas.dtype,
                               device=deltas.device)                       # [steps, order']
        stacked = deltas[list(points[:weights.shape[1]])]                   # [order', ...]
        return torch.einsum("so,o...->s...", weights, stacked)

    def span_error(self, name: str, history: list[int], n: int) -> float:
        """Predicted error of skipping step history[0] + 1 + n with this estimator (history fixed)."""
        key = (name, tuple(history[:get_estimator(name).order]))
        errors = self._spans.setdefault(key, [])
        while len(errors) <= n:
            start = history[0] + 1 + len(errors)
            steps = list(range(start, min(self.num_steps, start + CHUNK)))
            if not steps:
                return float("inf")
            total = torch.zeros(len(steps), dtype=torch.float64)
            for d in self.deltas:
                diff = self._forecast(d, name, steps, history) - d[steps]
                total += diff.abs().flatten(1).mean(dim=1).double().cpu()
            errors += [self.sensitivity[t] * float(v) / len(self.deltas) for t, v in zip(steps, total)]
        return errors[n]

    def token_error(self, name: str, t: int, history: list[int], ratio: float) -> float:
        """A token refresh at t: the forecast's error on the rows it does not recompute (the rows with the
        largest change between the last two computed residuals are recomputed)."""
        total = 0.0
        for d in self.deltas:
            score = (d[history[0]] - d[history[1]]).abs().mean(dim=-1)                 # [rows, tokens]
            kept = torch.topk(score, max(1, round(ratio * score.shape[1])), dim=1).indices
            diff = (self._forecast(d, name, [t], history)[0] - d[t]).abs()
            diff.scatter_(1, kept.unsqueeze(-1).expand(-1, -1, diff.shape[-1]), 0.0)
            total += float(diff.mean())
        return self.sensitivity[t] * total / len(self.deltas)

    def block_error(self, t: int, last_full: int, reuse: tuple[int, ...]) -> float:
        """A block refresh at t: the reused blocks' residual drift since the last full step."""
        index = list(reuse)
        total = sum(float((r[last_full, index] - r[t, index]).sum(dim=0).abs().mean()) for r in self.residuals)
        return self.sensitivity[t] * total / len(self.residuals)


def _skip_cost(costs: dict, order: int) -> float:
    return costs.get({1: "skip", 2: "skip2", 3: "skip3"}[order], costs.get("skip", 0.0))


def simulate(model: ErrorModel, rule: PlanRule) -> list[Step]:
    """The rule walked over every step of the profiled run (see the module docstring)."""
    T = model.num_steps
    steps: list[Step] = []
    history: list[int] = []
    last_full, since_c, since_f, forced = None, 0.0, 0.0, None
    while len(steps) < T:
        t = len(steps)
        if t < rule.first_full or (t >= T - 1 and rule.last_full) or not history:
            steps.append(Step("full", None, 0, 0.0, 0.0, 0.0))
            history, last_full, since_c, since_f = [t] + history, t, 0.0, 0.0
            continue
        best = None
        for name in ([forced] if forced else rule.estimators):
            c, f, n = since_c, since_f, 0
            while t + n < T - rule.last_full and (rule.max_span is None or n < rule.max_span):
                e = model.span_error(name, history, n)
                if c + e >= rule.warn or f + e >= rule.crit:
                    break
                c, f, n = c + e, f + e, n + 1
            if best is None or (n, -f) > best[0]:
                best = ((n, -f), name, n)
        _, name, n = best
        order = min(get_estimator(name).order, len(history))
        for k in range(n):
            e = model.span_error(name, history, k)
            since_c, since_f = since_c + e, since_f + e
            steps.append(Step("skip", name, order, e, since_c, since_f))
        forced, t = None, t + n
        if t >= T - rule.last_full:
            continue
        variant, error = _polish(model, rule, t, name, history, last_full, since_f, model.span_error(name, history, n))
        if variant == "full":
            steps.append(Step("full", name, 0, 0.0, 0.0, 0.0, polish="full"))
            history, last_full, since_c, since_f = [t] + history, t, 0.0, 0.0
        else:
            since_f += error
            steps.append(Step(variant, name, order if variant == "token" else 0, error, 0.0, since_f, polish=variant))
            history, since_c = [t] + history, 0.0
            forced = name if variant == "token" else None  # its rows and the skips after it share one estimator
    # the estimator an entry carries is the one of the skips after it
    for i in range(len(steps) - 1):
        if steps[i].variant in ("full", "block") and steps[i + 1].variant == "skip":
            steps[i] = Step(steps[i].variant, steps[i + 1].estimator, 0, steps[i].error, steps[i].since_computed,
                            steps[i].since_full, steps[i].polish)
    return steps


def _polish(model: ErrorModel, rule: PlanRule, t: int, name: str, history: list[int], last_full: int | None,
            since_f: float, skip_error: float) -> tuple[str, float]:
    """The computed step that ends a span: full past crit, else the refresh that buys the most error
    reduction per unit of measured cost over a skip here."""
    if since_f + skip_error >= rule.crit:
        return "full", 0.0
    costs = rule.costs
    full_cost = costs.get("full", 1.0)
    skip_cost = _skip_cost(costs, min(get_estimator(name).order, len(history)))
    options = [("full", full_cost, 0.0)]
    if rule.token_ratio and "token" in costs and costs["token"] < full_cost and len(history) >= 2:
        options.append(("token", costs["token"], model.token_error(name, t, history, rule.token_ratio)))
    if rule.reuse and "block" in costs and costs["block"] < full_cost and last_full is not None:
        options.append(("block", costs["block"], model.block_error(t, last_full, rule.reuse)))
    variant, _, error = max(options, key=lambda o: (skip_error - o[2]) / max(o[1] - skip_cost, 1e-6))
    if variant != "full" and since_f + error >= rule.crit:
        return "full", 0.0
    return variant, error


def plan_cost(steps: list[Step], costs: dict) -> float:
    """Summed step cost in units of a full step."""
    total = 0.0
    for s in steps:
        total += _skip_cost(costs, max(1, s.order)) if s.variant == "skip" else costs.get(s.variant, 1.0)
    return total
