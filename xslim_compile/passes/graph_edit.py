"""Small helpers for editing captured graphs; every variant shares the captured module's parameters."""
from __future__ import annotations

from typing import Iterable

import torch
from torch import fx

CACHE_INPUTS = "xslim_cache_inputs"    # gm.meta key: names of the cache placeholders, in order
CACHE_OUTPUTS = "xslim_cache_outputs"  # gm.meta key: names of the cache outputs, after the user outputs
USER_OUTPUTS = "xslim_user_outputs"    # gm.meta key: how many outputs are the model's own
STACK = "xslim_stack"                  # gm.meta key: the StackSpec
BLOCK = "xslim_block"                  # node.meta key: global block index of a block-body node
REGION = "xslim_region"                # node.meta key: "prologue" | "stack" | "epilogue"


def copy_graph_module(gm: fx.GraphModule) -> fx.GraphModule:
    """A new GraphModule over a copy of the graph; parameters and buffers are the same objects."""
    graph = fx.Graph()
    graph._codegen = gm.graph._codegen
    graph.output(graph.graph_copy(gm.graph, {}))
    copy = fx.GraphModule(gm, graph, class_name=type(gm).__name__)
    copy.meta.update(gm.meta)
    return copy


def nodes_by_name(gm: fx.GraphModule) -> dict[str, fx.Node]:
    return {n.name: n for n in gm.graph.nodes}


def output_node(gm: fx.GraphModule) -> fx.Node:
    return next(n for n in reversed(gm.graph.nodes) if n.op == "output")


def add_cache_input(gm: fx.GraphModule, name: str, like: fx.Node | None) -> fx.Node:
    """A placeholder after the last one, carrying the shape/dtype metadata of `like`; the existing one
    when the graph already has this cache input."""
    target = name.replace(".", "_")
    if name in gm.meta.get(CACHE_INPUTS, ()):
        return next(n for n in gm.graph.nodes if n.op == "placeholder" and n.target == target)
    last = [n for n in gm.graph.nodes if n.op == "placeholder"][-1]
    with gm.graph.inserting_after(last):
        node = gm.graph.placeholder(target)
    if like is not None and "val" in like.meta:
        node.meta["val"] = like.meta["val"]
    gm.meta[CACHE_INPUTS] = tuple(gm.meta.get(CACHE_INPUTS, ())) + (name,)
    return node


def add_outputs(gm: fx.GraphModule, named: Iterable[tuple[str, fx.Node]]) -> None:
    out = output_node(gm)
    values = list(out.args[0])
    gm.meta.setdefault(USER_OUTPUTS, len(values))
    names = list(gm.meta.get(CACHE_OUTPUTS, ()))
    for name, node in named:
        values.append(node)
        names.append(name)
    out.args = (tuple(values),)
    gm.meta[CACHE_OUTPUTS] = tuple(names)


def call(gm: fx.GraphModule, target, *args, after: fx.Node | None = None, **kwargs) -> fx.Node:
    """Insert `target(*args, **kwargs)` after `after` (default: before the output) and return it."""
    where = gm.graph.inserting_after(after) if after is not None else gm.graph.inserting_before(output_node(gm))
    with where:
        return gm.graph.call_function(target, args, kwargs)


def latest(gm: fx.GraphModule, *nodes: fx.Node) -> fx.Node:
    """Whichever of the nodes comes last in the graph: where a node using all of them may go."""
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    return max(nodes, key=order.__getitem__)


def node_shape(node) -> tuple[int, ...] | None:
    """The shape export recorded for a node's value (None for non-tensors and non-nodes)."""
    value = node.meta.get("val") if isinstance(node, fx.Node) else None
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def remove_dead_code(gm: fx.GraphModule) -> int:
    """Drop every node whose value is unused. Export marks SDPA and dropout impure (RNG), but in an
    inference graph they have no side effects, and keeping them would keep the blocks they belong to.
    The one real side effect is an in-place write into an intermediate (export keeps `out =
    empty_like(x); out[..., 0::2] = a` as copy_ into a slice): such a write lives while its base does."""
    live: set[fx.Node] = set()
    nodes = list(gm.graph.nodes)
    grew = True
    while grew:
        grew = False
        for node in reversed(nodes):
            if node in live:
                continue
            if (node.op in ("placeholder", "output") or any(u in live for u in node.users)
                    or (_writes(node) and _written_base(node) in live)):
                live.add(node)
                grew = True
    removed = 0
    for node in reversed(nodes):
        if node not in live:
            gm.graph.erase_node(node)
            removed += 1
    return removed


def _writes(node: fx.Node) -> bool:
    schema = getattr(node.target, "_schema", None)
    return node.op == "call_function" and schema is not None and schema.is_mutable


def _written_base(node: fx.Node) -> fx.Node | None:
    """The tensor an in-place op writes into, followed through views (slice, select, view...)."""
    base = node.args[0] if node.args else None
    while isinstance(base, fx.Node) and base.op == "call_function":
        schema = getattr(base.target, "_schema", None)
        returns = schema.returns if schema is not None else ()
        if not (returns and returns[0].alias_info is not None and base.args):
            break
        base = base.args[0]
    return base if isinstance(base, fx.Node) else None


def strip_metadata_asserts(gm: fx.GraphModule) -> int:
    """Remove export's dtype/shape assertion nodes: the runtime guards the input signature instead."""
    removed = 0
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target is torch.ops.aten._assert_tensor_metadata.default:
            gm.graph.erase_node(node)
            removed += 1
    return removed


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    denom = b.norm().item()
    diff = (a - b).norm().item()
    return diff / denom if denom > 0 else diff
