"""Controllers decide which variant each denoising call runs. Pure Python: no torch, no compiler."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence

from ..plan import Variant


@dataclass(frozen=True)
class StepInfo:
    step: int                  # index within the generation, 0-based
    num_steps: int | None      # total steps when known (generation() or cache_context)
    branch: str                # CFG branch


@dataclass(frozen=True)
class Decision:
    variant: Variant
    reason: str


class Controller(Protocol):
    def reset(self) -> None: ...
    def decide(self, step: StepInfo) -> Decision: ...
    def observe(self, step: StepInfo, signals: Mapping[str, float]) -> None: ...
    def may_follow(self, step: StepInfo) -> frozenset[Variant]: ...


class ScheduleController:
    """A fixed list, one entry per step; steps past its end (or no schedule at all) run full."""

    def __init__(self, schedule: Sequence[Variant] | None) -> None:
        self.schedule = tuple(schedule) if schedule is not None else None

    def reset(self) -> None:
        pass

    def decide(self, step: StepInfo) -> Decision:
        if self.schedule is None:
            return Decision(Variant.FULL, "no schedule")
        if step.step >= len(self.schedule):
            return Decision(Variant.FULL, f"past the schedule's {len(self.schedule)} entries")
        variant = self.schedule[step.step]
        return Decision(variant, f"schedule[{step.step}]")

    def observe(self, step: StepInfo, signals: Mapping[str, float]) -> None:
        pass

    def may_follow(self, step: StepInfo) -> frozenset[Variant]:
        """Variants scheduled after this step and before the next full one: what caches must serve."""
        if self.schedule is None:
            return frozenset()
        following = set()
        for variant in self.schedule[step.step + 1:]:
            if variant is Variant.FULL:
                break
            following.add(variant)
        return frozenset(following)
