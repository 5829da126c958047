"""Backends that turn a variant GraphModule into a callable."""
from __future__ import annotations

from typing import Callable

from torch import fx

from ..errors import ConfigError


def lower(gm: fx.GraphModule, backend: str, mode: str | None = None) -> Callable:
    if backend == "eager":
        from .eager import lower_eager
        return lower_eager(gm)
    if backend == "inductor":
        from .inductor import lower_inductor
        return lower_inductor(gm, mode)
    if backend == "tensorrt":
        from .tensorrt import lower_tensorrt
        return lower_tensorrt(gm)
    raise ConfigError(f"unknown backend {backend!r}; expected 'eager', 'inductor' or 'tensorrt'")
