"""Choosing a threshold for a target FLOPs speedup on the validation seeds.

The speedup grows (roughly monotonically, in steps) with the threshold. The search brackets the target
on a log scale (factor 2 outwards from a start value), then bisects in log space. Every threshold
measured is kept per family, so that the later targets of a sweep start from the earlier ones'
measurements.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

START = 0.1         # relative-L1 thresholds of every tuned family live around 0.01..1
SPAN = 2.0 ** 14    # the bracket never leaves [START / SPAN, START * SPAN]
TOLERANCE = 0.03    # relative distance to the target that ends the search
REACH = 0.10        # farther than this from the target at the best threshold: "cannot reach"
MAX_EVALS = 8       # bisection measurements per target (bracketing not counted)
RESOLUTION = 1.05   # thresholds closer than this ratio are not told apart
SATURATED = 3       # this many doublings in a row with the same speedup: the method is at its cap


@dataclass
class Measurements:
    """threshold -> measured FLOPs speedup, shared by the targets of one family."""
    measure: Callable[[float], float]
    points: dict[float, float] = field(default_factory=dict)

    def __call__(self, threshold: float) -> float:
        if threshold not in self.points:
            self.points[threshold] = self.measure(threshold)
        return self.points[threshold]


def _bracket(points: dict[float, float], target: float) -> tuple[float | None, float | None]:
    """Largest threshold measured below the target and smallest at or above it."""
    below = [t for t, s in points.items() if s < target]
    above = [t for t, s in points.items() if s >= target]
    low = max(below) if below else None
    high = min((t for t in above if low is None or t > low), default=None)
    return low, high


def choose_threshold(target: float, measurements: Measurements, start: float = START,
                     tolerance: float = TOLERANCE, max_evals: int = MAX_EVALS) -> dict:
    """The threshold whose measured speedup is closest to the target, with the search's record:
    {"target", "threshold", "speedup", "reachable", "note", "evaluations"}."""
    points = measurements.points
    if not points:
        measurements(start)
    _expand(target, measurements, start)
    for _ in range(max_evals):
        if _closest(points, target)[1] <= tolerance:
            break
        low, high = _bracket(points, target)
        if low is None or high is None:
            break
        if high / low < RESOLUTION:   # a jump in the speedup, not a slope: bisecting it gains nothing
            break
        mid = math.sqrt(low * high)
        measurements(mid)
    threshold, error = _closest(points, target)
    speedup = points[threshold]
    record = {"target": target, "threshold": threshold, "speedup": speedup, "reachable": error <= REACH,
              "evaluations": sorted(points.items())}
    if not record["reachable"]:
        record["note"] = _why_unreachable(points, target)
    return record


def _why_unreachable(points: dict[float, float], target: float) -> str:
    speedups = sorted(points.values())
    if speedups[-1] < target:
        return f"cannot reach {target:g}x: the most measured is {speedups[-1]:.2f}x"
    if speedups[0] > target:
        return f"cannot go as low as {target:g}x: the least measured is {speedups[0]:.2f}x"
    low, high = _bracket(points, target)
    return (f"cannot hit {target:g}x: the speedup jumps from {points[low]:.2f}x to {points[high]:.2f}x between "
            f"thresholds {low:.4g} and {high:.4g}")


def _expand(target: float, measurements: Measurements, start: float) -> None:
    """Measure outwards by factors of 2 until the target is bracketed, the span is exhausted, or the
    speedup has stopped changing (a method at its cap)."""
    points = measurements.points
    while True:
        low, high = _bracket(points, target)
        if high is None:
            top = max(points)
            if top >= start * SPAN or _saturated([points[t] for t in sorted(points)[-SATURATED:]]):
                return
            measurements(top * 2)
        elif low is None:
            bottom = min(points)
            if bottom <= start / SPAN or _saturated([points[t] for t in sorted(points)[:SATURATED]]):
                return
            measurements(bottom / 2)
        else:
            return


def _saturated(speedups: list[float]) -> bool:
    return len(speedups) == SATURATED and max(speedups) - min(speedups) <= 1e-9 * max(speedups)


def _closest(points: dict[float, float], target: float) -> tuple[float, float]:
    threshold = min(points, key=lambda t: (abs(points[t] - target), t))
    return threshold, abs(points[threshold] - target) / target
