"""Per-CFG-branch state of one generation: step counter, caches and what was read from them."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .policies import relative_change
from .rules import roll_caches


@dataclass
class BranchState:
    calls: int = 0                              # calls in this generation
    last_timestep: float | None = None
    caches: dict[str, torch.Tensor] = field(default_factory=dict)
    finite: torch.Tensor | None = None          # device bool: every cache is finite
    history_finite: torch.Tensor | None = None  # device bool: the residual history a full step kept is
    energies: tuple[float, ...] | None = None   # host copy of the last full step's block_energy
    reuse: tuple[int, ...] | None = None        # blocks the automatic rule picked from those energies
    last_input: torch.Tensor | None = None      # the previous call's latent (online indicator)
    computed: tuple | None = None               # (latent, output) of the last computed step
    rate: torch.Tensor | None = None            # EasyCache's k: output change / latent change between
                                                # the last two computed steps (device scalar)
    signature: object | None = None             # the input signature of this branch's calls
    history: list[int] = field(default_factory=list)  # steps of delta, delta_prev, delta_prev2 (newest
                                                # first) that a forecast may use
    depth: int = 2                              # residuals kept: 2 (token scoring) or 3 (taylor2)
    generation: int = 0                         # the scheduler clock's generation these caches belong to
    offset: int = 0                             # step of the generation's first call (located once)

    def clear(self) -> None:
        self.calls = 0
        self.last_timestep = None
        self.caches = {}
        self.finite = None
        self.history_finite = None
        self.energies = None
        self.reuse = None
        self.last_input = None
        self.computed = None
        self.rate = None
        self.history = []
        self.offset = 0

    def store(self, produced: dict[str, torch.Tensor], replace: bool, check_finite: bool, step: int) -> None:
        """Take a step's caches (rules.roll_caches), and keep on the device whether they are finite."""
        caches, self.history, rolled = roll_caches(self.caches, produced, replace, self.depth, self.history, step)
        if replace:
            self.energies = None
        self.caches = caches
        if check_finite and produced:
            # a mixed delta_prev only ranks tokens: a NaN there picks other rows but puts no NaN in any value
            flags = [torch.isfinite(t).all() for name, t in produced.items()
                     if t.is_floating_point() and not name.startswith(("delta_prev.", "probe."))]
            if replace:  # history a forecast may read survives a full step: checked on its own, so that
                # a NaN there only turns forecasts into reuse
                kept = [torch.isfinite(t).all() for t in rolled if t.is_floating_point()]
                self.history_finite = torch.stack(kept).all() if kept else None
            elif self.finite is not None:
                flags.append(self.finite)
            self.finite = torch.stack(flags).all() if flags else self.finite

    def update_rate(self, latent: torch.Tensor, output: torch.Tensor | None) -> None:
        """After a computed step: k = (relative output change) / (relative latent change) since the last
        computed step, on the device (read with the next call's indicator)."""
        if output is None:
            return
        output = output.detach().clone()
        if self.computed is not None:
            (x, o) = self.computed
            self.rate = relative_change(output, o) / relative_change(latent, x).clamp_min(1e-12)
        self.computed = (latent, output)

    def forecast_points(self) -> int:
        """How many residuals of the history a forecast may read now."""
        return len(self.history)

    def has(self, prefix: str) -> bool:
        return any(name.startswith(prefix) for name in self.caches)

    def cache_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.caches.values())
