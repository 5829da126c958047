"""The `skip` variant: prologue, O = I + Δ̂, epilogue; no op of the stack remains.

Δ̂ is the last computed residual (history 1, the paper's reuse) or a forecast from the last 2 or 3
(see passes/forecast.py)."""
from __future__ import annotations

import torch
from torch import fx

from ..errors import UnsupportedModelError
from .base import PassContext, PassResult
from .forecast import add_forecast
from .graph_edit import BLOCK, STACK, call, latest, nodes_by_name, remove_dead_code

aten = torch.ops.aten


class SkipStack:
    def __init__(self, history: int = 1) -> None:
        self.history = history

    def __call__(self, gm: fx.GraphModule, ctx: PassContext) -> PassResult:
        spec, nodes = gm.meta[STACK], nodes_by_name(gm)
        for s in spec.read_slots:
            o, i = nodes[spec.stack_outputs[s]], nodes[spec.stack_inputs[s]]
            delta = add_forecast(gm, spec.slots[s], o, self.history)
            approx = call(gm, aten.add.Tensor, i, delta, after=latest(gm, i, delta))
            o.replace_all_uses_with(approx)
        removed = remove_dead_code(gm)
        left = sorted({n.meta[BLOCK] for n in gm.graph.nodes if BLOCK in n.meta})
        if left:
            raise UnsupportedModelError(
                f"{ctx.model_name}: the skip variant still needs blocks {left}; something after the "
                f"stack reads values from inside it")
        return PassResult(gm, modified=True, stats={"removed_nodes": removed, "history": self.history})
