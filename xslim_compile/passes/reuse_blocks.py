"""The `block` variant: reused blocks compute h + r_l(cached); the other blocks run.

Also returns `delta.<slot>` (O − I of this step), so that a skip after a block step reuses the freshest
stack residual. Block residuals themselves stay those of the last full step. With probe=True it also
returns `probe.residual.<l>.<slot>`, the fresh residual of the first block that runs: first-block
caching (FBCache-like) compares it with the cached one to accept the step or redo it in full.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import fx

from ..errors import UnsupportedModelError
from .base import PassContext, PassResult
from .emit_caches import emit_delta
from .graph_edit import (BLOCK, STACK, add_cache_input, add_outputs, call, latest, nodes_by_name,
                         remove_dead_code)

aten = torch.ops.aten


class ReuseBlocks:
    def __init__(self, reuse: Iterable[int], cache_dtype: torch.dtype | None = None, probe: bool = False) -> None:
        self.reuse, self.cache_dtype, self.probe = tuple(sorted(set(reuse))), cache_dtype, probe

    def __call__(self, gm: fx.GraphModule, ctx: PassContext) -> PassResult:
        spec, nodes = gm.meta[STACK], nodes_by_name(gm)
        bad = [i for i in self.reuse if not 0 <= i < spec.num_blocks]
        if bad:
            raise UnsupportedModelError(f"{ctx.model_name}: block_reuse {bad} out of range; the stack has "
                                        f"{spec.num_blocks} blocks (0..{spec.num_blocks - 1})")
        current: dict[str, fx.Node] = {}  # stream node name -> the node now standing for it
        for index in self.reuse:
            block = spec.blocks[index]
            for s, (i, o) in enumerate(zip(block.inputs, block.outputs)):
                if o is None:
                    continue
                h = current.get(i, nodes[i])
                r = add_cache_input(gm, f"residual.{index}.{spec.slots[s]}", like=nodes[o])
                if self.cache_dtype is not None:
                    r = call(gm, aten._to_copy.default, r, after=latest(gm, h, r), dtype=nodes[o].meta["val"].dtype)
                approx = call(gm, aten.add.Tensor, h, r, after=latest(gm, h, r))
                nodes[o].replace_all_uses_with(approx)
                current[o] = approx
        named = emit_delta(gm, current)
        computed = sorted(set(range(spec.num_blocks)) - set(self.reuse))
        if self.probe and computed:
            block = spec.blocks[computed[0]]
            for s, (i, o) in enumerate(zip(block.inputs, block.outputs)):
                if o is not None:
                    r = call(gm, aten.sub.Tensor, nodes[o], current.get(i, nodes[i]))
                    named.append((f"probe.residual.{block.index}.{spec.slots[s]}", r))
        add_outputs(gm, named)
        removed = remove_dead_code(gm)
        ran = {n.meta[BLOCK] for n in gm.graph.nodes if BLOCK in n.meta}
        if ran & set(self.reuse):
            raise UnsupportedModelError(f"{ctx.model_name}: reused blocks {sorted(ran & set(self.reuse))} "
                                        f"are still needed by the graph")
        return PassResult(gm, modified=True, stats={"removed_nodes": removed, "blocks_run": len(ran),
                                                    "blocks_reused": len(self.reuse)})
