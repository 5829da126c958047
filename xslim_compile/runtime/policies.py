"""Host-side rules that turn measured signals into variant details."""
from __future__ import annotations

from statistics import median
from typing import Sequence


def select_reuse_blocks(energies: Sequence[float], chain_starts: Sequence[int], always_compute: int,
                        threshold: float | None = None) -> tuple[int, ...]:
    """The accumulated-residual rule: walk the blocks accumulating e_l = mean|r_l|; a block whose running
    sum passes the threshold is recomputed and the sum resets; the others reuse their residual. The
    first `always_compute` blocks of every chain always run. Threshold default: median of e_l."""
    if not energies:
        return ()
    limit = median(energies) if threshold is None else threshold
    starts = sorted(chain_starts)
    reuse, running = [], 0.0
    for index, energy in enumerate(energies):
        chain_start = max(s for s in starts if s <= index)
        if index - chain_start < always_compute:
            running = 0.0
            continue
        running += energy
        if running > limit:
            running = 0.0
        else:
            reuse.append(index)
    return tuple(reuse)
