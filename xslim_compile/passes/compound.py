"""Compound blocks: blocks that hand the stream on in another layout (Latte's spatial and temporal
blocks) are merged until the layout is back, and the reshapes after the last one are its glue."""
from __future__ import annotations

from torch import fx

from ..layout import BlockSpec, StackSpec
from .graph_edit import BLOCK, node_shape as shape


def past_layout_glue(spec: StackSpec, nodes: dict[str, fx.Node]) -> StackSpec:
    """The last block of an alternating chain (Latte's temporal block) leaves the stream in its own
    layout; the reshapes after it, which bring back the layout the stack started in, are its glue."""
    last, outputs = spec.blocks[-1], []
    for i, o in zip(spec.stack_inputs, last.outputs):
        want = shape(nodes[i]) if i is not None else None
        node = nodes[o] if o is not None else None
        path = []
        while node is not None and want is not None and shape(node) != want and len(path) < 8:
            users = list(node.users)
            node = users[0] if len(users) == 1 and BLOCK not in users[0].meta else None
            path.append(node)
        if node is None or not path or shape(node) != want:
            outputs.append(o)
            continue
        for glue in path:
            glue.meta[BLOCK] = last.index
        outputs.append(node.name)
    blocks = spec.blocks[:-1] + (BlockSpec(last.index, last.path, last.chain, last.inputs, tuple(outputs)),)
    return StackSpec(spec.slots, blocks, spec.chain_paths, spec.read_slots)


def same_layout(inputs, outputs, nodes: dict[str, fx.Node]) -> bool:
    """Each slot a block produces leaves in the shape it entered in (SD3's last block produces no text)."""
    return all(shape(nodes[i]) == shape(nodes[o]) for i, o in zip(inputs, outputs) if i is not None and o is not None)


def groups(spec: StackSpec, nodes: dict[str, fx.Node]) -> list[tuple]:
    """Blocks grouped into compound blocks: a block that hands the stream on in another layout than it
    took it in (Latte's spatial block: [B·F, N, D] in, [B·N, F, D] out) joins the blocks after it until
    the layout is back, since a residual (output − input) needs one layout."""
    found, i = [], 0
    while i < len(spec.blocks):
        j = i
        while j + 1 < len(spec.blocks) and not same_layout(spec.blocks[i].inputs, spec.blocks[j].outputs, nodes):
            j += 1
        found.append(spec.blocks[i:j + 1])
        i = j + 1
    return found


def compound(spec: StackSpec, gm: fx.GraphModule, nodes: dict[str, fx.Node]) -> StackSpec:
    merged = groups(spec, nodes)
    if len(merged) == len(spec.blocks):
        return spec
    renumber = {b.index: k for k, group in enumerate(merged) for b in group}
    for node in gm.graph.nodes:
        if BLOCK in node.meta:
            node.meta[BLOCK] = renumber[node.meta[BLOCK]]
    blocks = tuple(BlockSpec(k, "+".join(b.path for b in g), g[0].chain, g[0].inputs, g[-1].outputs)
                   for k, g in enumerate(merged))
    return StackSpec(spec.slots, blocks, spec.chain_paths, spec.read_slots)
