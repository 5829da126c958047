"""Estimators of a skipped step's stack residual Δ from the residuals of the last computed steps.

Pure Python (shared by the runtime, the planner and the passes). Every estimator is a linear
combination Δ̂_t = Σ_i w_i · Δ_{h_i} of the history h_0 > h_1 > h_2 (step indices of the last computed
steps, most recent first), so one graph per history length serves every estimator and every distance:
the weights are a tensor input, computed here on the host from step indices alone.

- reuse:   Δ̂ = Δ_{h0} (the paper's skip)
- taylor1: the straight line through the last two computed residuals, extrapolated to t
- taylor2: the parabola through the last three
- damped:  half of taylor1's change (HiCache-like scaling of the forecast increment), for spans where
           Δ bends and a full straight line overshoots

Distances are the run's step indices: plans are made and mapped in step positions, and the step
index is known without a host read (timesteps or σ would need one per call, and differ between
shifted flow schedules only by a smooth reparametrisation the planner measures anyway).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .errors import ConfigError

HISTORY = ("delta", "delta_prev", "delta_prev2")   # cache-name prefixes of h_0, h_1, h_2
WEIGHTS = "forecast_weights"                      # the graph input holding w (float32, one per history term)


@dataclass(frozen=True)
class Estimator:
    name: str
    order: int            # history terms it reads (1: the last residual only)
    damping: float = 1.0  # share of the polynomial's change from Δ_{h0} that is kept


ESTIMATORS = {e.name: e for e in (Estimator("reuse", 1), Estimator("damped", 2, 0.5), Estimator("taylor1", 2),
                                  Estimator("taylor2", 3))}


def get_estimator(name: str) -> Estimator:
    try:
        return ESTIMATORS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown estimator {name!r}; expected one of {', '.join(map(repr, ESTIMATORS))}") from None


def history_names(slot: str, order: int) -> list[str]:
    return [f"{prefix}.{slot}" for prefix in HISTORY[:order]]


def forecast_weights(estimator: Estimator, step: int, history: Sequence[int]) -> tuple[float, ...]:
    """Weights of Δ_{history[i]} in the forecast at `step`, using min(order, len(history)) terms.

    Lagrange extrapolation through the points (h_i, Δ_{h_i}), so a polynomial of degree order − 1 is
    forecast exactly; damping d gives d·L + (1 − d)·[1, 0, ...]."""
    points = list(history[:max(1, min(estimator.order, len(history)))])
    if not points:
        raise ValueError("a forecast needs at least one computed step")
    if len(set(points)) != len(points):
        raise ValueError(f"history steps must differ, got {points}")
    weights = []
    for i, p in enumerate(points):
        w = 1.0
        for j, q in enumerate(points):
            if j != i:
                w *= (step - q) / (p - q)
        weights.append(w)
    d = estimator.damping
    return tuple(d * w + (1.0 - d) * (1.0 if i == 0 else 0.0) for i, w in enumerate(weights))
