"""The forecast of the stack residual inside a variant graph: Δ̂ = Σ_i w[i] · h_i.

h_i are the cached residuals of the last computed steps (`delta.<slot>`, `delta_prev.<slot>`,
`delta_prev2.<slot>`) and w the `forecast_weights` input, so that one graph serves every estimator
and every step distance without a recompile (the runtime computes w from step indices).
"""
from __future__ import annotations

import torch
from torch import fx

from ..forecast import WEIGHTS, history_names
from .graph_edit import add_cache_input, call

aten = torch.ops.aten


def add_forecast(gm: fx.GraphModule, slot: str, like: fx.Node, order: int) -> fx.Node:
    """A node holding the forecast residual of one slot from `order` history terms (order 1: the last
    residual as it is, no weights input)."""
    history = [add_cache_input(gm, name, like=like) for name in history_names(slot, order)]
    if order == 1:
        return history[0]
    weights = add_cache_input(gm, WEIGHTS, like=None)
    # right after the placeholders, so that every later insertion point can read it; the float32
    # 0-d weights do not promote a bf16/fp16 residual, and the product is computed in float
    total, after = None, [n for n in gm.graph.nodes if n.op == "placeholder"][-1]
    for i, h in enumerate(history):
        w = call(gm, aten.select.int, weights, 0, i, after=after)
        term = call(gm, aten.mul.Tensor, h, w, after=w)
        total = term if total is None else call(gm, aten.add.Tensor, total, term, after=term)
        after = total
    return total
