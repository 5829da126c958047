"""The inductor backend: torch.compile per variant, whole graph, static shapes.

Each variant has fixed shapes (the signature guards them), so dynamic=False and no recompiles after
warm-up. mode="reduce-overhead" adds CUDA graphs on a GPU.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import fx


def lower_inductor(gm: fx.GraphModule, mode: str | None = None) -> Callable:
    return torch.compile(gm, backend="inductor", fullgraph=True, dynamic=False, mode=mode)
