"""The rules that turn a controller's decision into the variant a call runs, and the step-position
rules for calls without a step index. Pure Python (no torch, no numpy), so that a runner without
torch can make the same choices from the same facts.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..plan import Variant


@dataclass(frozen=True)
class CacheFacts:
    """What a branch holds when a call starts (names as in BranchState.caches)."""
    delta: bool                    # a stack residual from a computed step
    residuals: bool                # per-block residuals from a full step
    kv_and_prev: bool              # K/V from a full step and the residual before the last
    token_failed: str | None       # why the token variant could not be built, if it could not


def fallback(variant: Variant, reason: str, branch: str, facts: CacheFacts) -> str | None:
    """Why the wanted approximate variant must run full instead, or None when it can run (the
    caches' finiteness is checked after this, since it may cost a host read)."""
    if variant is Variant.FULL:
        return None
    if not facts.delta:
        return f"{reason}: {variant} wanted, no cached residual yet in branch {branch!r}"
    if variant is Variant.BLOCK and not facts.residuals:
        return f"{reason}: block wanted, no block residuals from a full step yet"
    if variant is Variant.TOKEN and facts.token_failed is not None:
        return f"{reason}; fallback to full: {facts.token_failed}"
    if variant is Variant.TOKEN and not facts.kv_and_prev:
        return f"{reason}: token wanted, needs K/V from a full step and two computed steps"
    return None


def known_step(step_index: int | None, calls: int, in_generation: bool) -> tuple[int | None, bool]:
    """(step, restart): the step when the caller gives it (a cache_context step index, or the call
    count inside generation()), else None; restart when a step index 0 arrives after calls (a new
    generation)."""
    if step_index is not None:
        return int(step_index), step_index == 0 and calls > 0
    return (calls if in_generation else None), False


def timestep_order(timestep: float | None, last: float | None) -> str:
    """Calls located by counting: a timestep that goes back up starts a new generation ("restart"),
    the same timestep twice is suspicious ("repeat": two CFG branches sharing one cache), else "next"."""
    if timestep is None or last is None:
        return "next"
    if timestep > last:
        return "restart"
    return "repeat" if timestep == last else "next"


def locate(timestep: float | None, schedule: tuple | None) -> int:
    """Index of the schedule entry nearest to the call's timestep (schedulers without a step index)."""
    if timestep is None or not schedule:
        return 0
    return min(range(len(schedule)), key=lambda i: abs(schedule[i] - timestep))
