"""The `full` variant: the whole graph, also returning the caches later variants consume.

Outputs added after the model's own: `delta.<slot>` = O − I for every slot the epilogue reads;
with residuals=True, `residual.<block>.<slot>` = out − in of every block plus `block_energy`, the
per-block mean |residual| (summed over slots) that the automatic block-reuse rule reads; with
kv_nodes, `kv.<attention>.key/value`, the keys and values a token step writes its fresh rows into.
Residuals and K/V may be kept in a smaller cache_dtype (bf16/fp16) to halve their memory.
"""
from __future__ import annotations

import torch
from torch import fx

from .base import PassContext, PassResult
from .graph_edit import STACK, add_outputs, call, nodes_by_name

aten = torch.ops.aten


def emit_delta(gm: fx.GraphModule, current: dict[str, fx.Node] | None = None) -> list[tuple[str, fx.Node]]:
    """`delta.<slot>` outputs: O − I for the slots read after the stack. `current` maps stream nodes
    that a rewrite replaced to their replacements."""
    spec, nodes = gm.meta[STACK], nodes_by_name(gm)
    current = current or {}
    outs = []
    for s in spec.read_slots:
        name = spec.stack_outputs[s]
        o, i = current.get(name, nodes[name]), nodes[spec.stack_inputs[s]]
        outs.append((f"delta.{spec.slots[s]}", call(gm, aten.sub.Tensor, o, i)))
    return outs


class EmitCaches:
    def __init__(self, residuals: bool, kv_nodes: tuple[str, ...] = (), cache_dtype: torch.dtype | None = None) -> None:
        self.residuals, self.kv_nodes, self.cache_dtype = residuals, tuple(kv_nodes), cache_dtype

    def _stored(self, gm: fx.GraphModule, node: fx.Node) -> fx.Node:
        if self.cache_dtype is None:
            return node
        return call(gm, aten._to_copy.default, node, dtype=self.cache_dtype)

    def __call__(self, gm: fx.GraphModule, ctx: PassContext) -> PassResult:
        spec, nodes = gm.meta[STACK], nodes_by_name(gm)
        named = emit_delta(gm)
        if self.residuals:
            energies = []
            for block in spec.blocks:
                sizes = []
                for s, (i, o) in enumerate(zip(block.inputs, block.outputs)):
                    if i is None or o is None:
                        continue
                    r = call(gm, aten.sub.Tensor, nodes[o], nodes[i])
                    named.append((f"residual.{block.index}.{spec.slots[s]}", self._stored(gm, r)))
                    mean = call(gm, aten.mean.default, call(gm, aten.abs.default, r))
                    sizes.append(mean)
                total = sizes[0]
                for size in sizes[1:]:
                    total = call(gm, aten.add.Tensor, total, size)
                energies.append(total)
            stacked = call(gm, aten.stack.default, energies)
            named.append(("block_energy", call(gm, aten._to_copy.default, stacked, dtype=torch.float32)))
        for name in self.kv_nodes:
            sdpa = nodes[name]
            named += [(f"kv.{name}.key", self._stored(gm, sdpa.args[1])),
                      (f"kv.{name}.value", self._stored(gm, sdpa.args[2]))]
        add_outputs(gm, named)
        return PassResult(gm, modified=True, stats={"cache_outputs": len(named)})
