"""Fixed schedules: the X-Slim authors' released 50-step modes and simple baselines.

Each returns one entry per step ("full", "skip", "block", "token"), to pass as XSlimConfig.schedule.
"""
from __future__ import annotations

from .errors import ConfigError

# index 0 = first step; the released FLUX.1-dev modes (../shared/ALGORITHM.md, "The released schedules")
RELEASED = {
    "step_slow": {"full": (0, 1, 2, 3, 4, 6, 9, 13, 18, 23, 30, 36, 41, 44, 47, 49)},
    "polish_slow": {"full": (0, 1, 2, 3, 4, 6, 18, 23, 30, 44, 47, 49), "block": (9, 36), "token": (13, 41)},
    "step_fast": {"full": (0, 1, 2, 3, 6, 11, 18, 27, 36, 44, 49)},
    "polish_fast": {"full": (0, 1, 2, 3, 6, 27, 44, 49), "token": (11, 18, 36)},
}
RELEASED_STEPS = 50


def released_schedule(name: str) -> list[str]:
    """A released 50-step mode: listed steps computed as given, every other step skipped."""
    if name not in RELEASED:
        raise ConfigError(f"unknown released schedule {name!r}; expected one of {sorted(RELEASED)}")
    schedule = ["skip"] * RELEASED_STEPS
    for variant, steps in RELEASED[name].items():
        for step in steps:
            schedule[step] = variant
    return schedule


def uniform_schedule(num_steps: int, every: int) -> list[str]:
    """FORA-like reuse: a full step every `every` steps (and the last step), skips in between."""
    if every < 1 or num_steps < 1:
        raise ConfigError(f"num_steps and every must be >= 1, got {num_steps}, {every}")
    schedule = ["full" if i % every == 0 else "skip" for i in range(num_steps)]
    schedule[-1] = "full"
    return schedule
