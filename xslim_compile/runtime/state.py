"""Per-CFG-branch state of one generation: step counter, caches and what was read from them."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class BranchState:
    calls: int = 0                              # calls in this generation
    last_timestep: float | None = None
    caches: dict[str, torch.Tensor] = field(default_factory=dict)
    finite: torch.Tensor | None = None          # device bool: every cache is finite
    energies: tuple[float, ...] | None = None   # host copy of the last full step's block_energy
    reuse: tuple[int, ...] | None = None        # blocks the automatic rule picked from those energies
    last_input: torch.Tensor | None = None      # the previous call's latent (online indicator)
    signature: object | None = None             # the input signature of this branch's calls

    def clear(self) -> None:
        self.calls = 0
        self.last_timestep = None
        self.caches = {}
        self.finite = None
        self.energies = None
        self.reuse = None
        self.last_input = None

    def store(self, produced: dict[str, torch.Tensor], replace: bool, check_finite: bool) -> None:
        """Take a step's caches: a full step replaces them all (block residuals and K/V belong to the
        last full step); a computed step moves the previous Δ to delta_prev (token scoring) unless it
        returns its own delta_prev (a token step keeps the pending score of the rows it did not run)."""
        produced = {k: v for k, v in produced.items() if not k.startswith("probe.")}  # read once, not kept
        caches = dict(produced) if replace else {**self.caches, **produced}
        for name in produced:
            rolled = "delta_prev." + name[len("delta."):]
            if name.startswith("delta.") and name in self.caches and rolled not in produced:
                caches[rolled] = self.caches[name]
        if replace:
            self.energies = None
        self.caches = caches
        if check_finite and produced:
            # delta_prev only ranks tokens: a NaN there picks other rows but puts no NaN in any value
            flags = [torch.isfinite(t).all() for name, t in produced.items()
                     if t.is_floating_point() and not name.startswith("delta_prev.")]
            if not replace and self.finite is not None:
                flags.append(self.finite)
            self.finite = torch.stack(flags).all() if flags else self.finite

    def has(self, prefix: str) -> bool:
        return any(name.startswith(prefix) for name in self.caches)

    def cache_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.caches.values())
