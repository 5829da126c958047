"""Values a block computes that code outside it reads: hoisted into the prologue when they do not
depend on the stream, bypassed when they are a no-op alias of a value from outside the block."""
from __future__ import annotations

from torch import fx

from ..layout import StackSpec
from .graph_edit import BLOCK


def hoist(gm: fx.GraphModule, spec: StackSpec) -> int:
    """Values a block computes that code outside it reads, other than its stream outputs: those that do
    not depend on the stream (a cast of the rotary table, a norm of the conditioning) are untagged into
    the prologue; a no-op alias of a value from outside the block (`.float()` of a float32 tensor, which
    export records where it ran, and which every later read of that tensor then names) is bypassed.
    Otherwise a skipped or reused block would leave the value undefined."""
    outputs = {name for b in spec.blocks for name in b.outputs if name is not None}
    stream = {name for name in spec.stack_inputs if name is not None}
    free: set[fx.Node] = set()  # computable before the stack from what the stack does not change
    for node in gm.graph.nodes:
        if any(i.name in stream for i in node.all_input_nodes):
            stream.add(node.name)
        elif (BLOCK in node.meta and node.op == "call_function" and not node.is_impure()
                and all(i in free or BLOCK not in i.meta for i in node.all_input_nodes)):
            free.add(node)
    moved = 0
    for node in reversed(list(gm.graph.nodes)):
        block = node.meta.get(BLOCK)
        if block is None or node.name in outputs:
            continue
        outside = [u for u in node.users if u.meta.get(BLOCK) != block]
        source = _aliased(node)
        if outside and node not in free and source is not None and source.meta.get(BLOCK) != block:
            for user in outside:
                user.replace_input_with(node, source)
            moved += 1
        elif outside and node in free:
            todo = [node]
            while todo:  # the node and the in-block nodes it reads: all free by construction
                n = todo.pop()
                if BLOCK in n.meta:
                    del n.meta[BLOCK]
                    moved += 1
                    todo.extend(i for i in n.all_input_nodes if BLOCK in i.meta)
    return moved


NO_OP_ALIASES = ("aten.to.", "aten.alias.", "aten.detach.", "aten.type_as.")


def _aliased(node: fx.Node) -> fx.Node | None:
    """The input a no-op conversion returns as it is (same dtype, shape and device), else None."""
    if node.op != "call_function" or not str(node.target).startswith(NO_OP_ALIASES) or not node.args:
        return None
    source, out = node.args[0], node.meta.get("val")
    value = source.meta.get("val") if isinstance(source, fx.Node) else None
    same = (value is not None and out is not None and value.dtype == out.dtype and value.shape == out.shape
            and value.device == out.device)
    return source if same else None
