"""Host-side rules that turn measured signals into variant details."""
from __future__ import annotations

from statistics import median
from typing import Sequence

import torch

from .rules import token_bucket  # noqa: F401  (re-exported)


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


def first_float_tensor(kwargs: dict) -> torch.Tensor | None:
    """The latent a denoiser is called on: `hidden_states` when present, else the first float input."""
    value = kwargs.get("hidden_states")
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value
    return next((v for v in kwargs.values() if isinstance(v, torch.Tensor) and v.is_floating_point()), None)


def relative_change(current: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """‖a − b‖₁ / ‖b‖₁ on the device (a 0-d tensor): the online controller's indicator."""
    current, previous = current.detach().float(), previous.detach().float()
    return (current - previous).abs().sum() / previous.abs().sum().clamp_min(1e-12)
