"""Pure data shared by the compiler and the runtime: the variant kinds and schedules."""
from __future__ import annotations

import enum
from typing import Iterable, Sequence


class Variant(str, enum.Enum):
    """What one denoising call computes."""

    FULL = "full"    # every block; refreshes all caches
    SKIP = "skip"    # no block of the stack: O = I + Δ_last
    BLOCK = "block"  # some blocks reuse their cached residual, the others run
    TOKEN = "token"  # a subset of image tokens runs through the stack

    def __str__(self) -> str:
        return self.value


def parse_variant(entry: str | Variant) -> Variant:
    """'full' / Variant.FULL -> Variant.FULL; anything else raises ValueError listing the valid names."""
    if isinstance(entry, Variant):
        return entry
    try:
        return Variant(str(entry).strip().lower())
    except ValueError:
        valid = ", ".join(repr(v.value) for v in Variant)
        raise ValueError(f"unknown schedule entry {entry!r}; expected one of {valid}") from None


def parse_schedule(entries: Iterable[str | Variant] | None) -> tuple[Variant, ...] | None:
    if entries is None:
        return None
    if isinstance(entries, (str, Variant)):
        raise TypeError("schedule must be a sequence of entries, one per step, e.g. ['full', 'skip', ...]")
    return tuple(parse_variant(e) for e in entries)


def count_computed(schedule: Sequence[Variant]) -> int:
    return sum(1 for v in schedule if v is not Variant.SKIP)
