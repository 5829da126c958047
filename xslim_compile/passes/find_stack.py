"""Find the block stack by data flow and tag it.

A chain is a run of >= 2 sibling blocks (one ModuleList, one class) in which every block consumes the
previous block's outputs; chains linked the same way (FLUX: double- then single-stream) form the stack,
the longest linked sequence wins. Module names alone are not enough: DiT calls
`transformer_blocks[0].norm1.emb` again after the loop, so a block's body is the set of nodes recorded
inside *that block's call*, and its stream inputs/outputs come from the call signature export recorded.
"""
from __future__ import annotations

from torch import fx

from ..errors import UnsupportedModelError
from ..layout import BlockSpec, StackSpec
from .base import PassContext, PassResult
from .graph_edit import BLOCK, REGION, STACK

CRITERION = ("a chain of at least two sibling submodules of one class (one nn.ModuleList), each "
             "consuming the previous one's hidden-state output")


def _link(a, b) -> dict[int, str]:
    """{output position of call a: input name of call b} for every output of a that b consumes."""
    positions = {node: i for i, node in enumerate(a.outputs) if node is not None}
    return {positions[node]: name for name, node in b.inputs if node in positions}


def _chains(block_calls) -> list[list]:
    groups: dict[str, list] = {}
    for path, call in block_calls.items():
        parent, _, index = path.rpartition(".")
        groups.setdefault(parent, []).append((int(index), call))
    chains = []
    for parent in groups:
        calls = [c for _, c in sorted(groups[parent], key=lambda x: x[0])]
        if len(calls) >= 2 and all(_link(a, b) for a, b in zip(calls, calls[1:])):
            chains.append(calls)
    return chains


def _longest_linked(chains: list[list]) -> list[list]:
    best: list[list] = []
    for start in chains:
        seq = [start]
        while True:
            nxt = [c for c in chains if c not in seq and _link(seq[-1][-1], c[0])]
            if not nxt:
                break
            seq.append(nxt[0])
        if sum(map(len, seq)) > sum(map(len, best)):
            best = seq
    return best


def _stack_spec(seq: list[list], model_name: str) -> StackSpec:
    first = _link(seq[0][0], seq[0][1])
    input_order = [name for name, _ in seq[0][1].inputs]
    slots = tuple(sorted(set(first.values()), key=input_order.index))
    blocks, names = [], {s: s for s in slots}
    for chain_index, chain in enumerate(seq):
        inverse = {name: pos for pos, name in _link(chain[0], chain[1]).items()}
        missing = [names[s] for s in slots if names[s] not in inverse]
        if missing:
            raise UnsupportedModelError(f"{model_name}: blocks of {chain[0].path.rpartition('.')[0]} do not "
                                        f"pass on stream input(s) {missing}; expected {CRITERION}")
        positions = {s: inverse[names[s]] for s in slots}
        for call in chain:
            inputs = dict(call.inputs)
            blocks.append(BlockSpec(
                index=len(blocks), path=call.path, chain=chain_index,
                inputs=tuple(inputs.get(names[s]) for s in slots),
                outputs=tuple(call.outputs[positions[s]] if positions[s] < len(call.outputs) else None
                              for s in slots)))
        if chain_index + 1 < len(seq):
            link = _link(chain[-1], seq[chain_index + 1][0])
            names = {s: link.get(positions[s], names[s]) for s in slots}
    return StackSpec(slots=slots, blocks=tuple(blocks),
                     chain_paths=tuple(c[0].path.rpartition(".")[0] for c in seq), read_slots=())


class FindStack:
    """Tag block bodies (node.meta[BLOCK]) and store the StackSpec in gm.meta[STACK]."""

    def __call__(self, gm: fx.GraphModule, ctx: PassContext) -> PassResult:
        seq = _longest_linked(_chains(ctx.block_calls))
        if not seq:
            raise UnsupportedModelError(f"{ctx.model_name}: no block stack found; the compiler needs {CRITERION}")
        spec = _stack_spec(seq, ctx.model_name)
        nodes = {n.name: n for n in gm.graph.nodes}
        index_of = {block.path: block.index for block in spec.blocks}
        for node in gm.graph.nodes:
            stack = node.meta.get("nn_module_stack") or {}
            found = [index_of[entry[0]] for entry in stack.values() if entry[0] in index_of]
            if node.op == "call_function" and found:
                node.meta[BLOCK] = found[0]
        _check_boundaries(spec, nodes, ctx.model_name)
        read = tuple(i for i, name in enumerate(spec.stack_outputs)
                     if name is not None and any(BLOCK not in u.meta for u in nodes[name].users))
        if not read:
            raise UnsupportedModelError(f"{ctx.model_name}: nothing after the stack reads its output")
        spec = StackSpec(spec.slots, spec.blocks, spec.chain_paths, read)
        gm.meta[STACK] = spec
        regions = _tag_regions(gm)
        return PassResult(gm, modified=False, stats={"blocks": spec.num_blocks, "chains": len(spec.chain_paths),
                                                     "slots": len(spec.slots), "body_nodes": regions["stack"],
                                                     "prologue_nodes": regions["prologue"],
                                                     "epilogue_nodes": regions["epilogue"]})


def _tag_regions(gm: fx.GraphModule) -> dict[str, int]:
    """node.meta[REGION]: "stack" (a block body), "prologue" (what the stack needs, computed before it)
    or "epilogue" (the rest: what runs on the stack's output, or on nothing the stack needs)."""
    needed: set[fx.Node] = set()
    for node in reversed(list(gm.graph.nodes)):
        if BLOCK in node.meta or node in needed:
            needed.update(node.all_input_nodes)
    counts = {"prologue": 0, "stack": 0, "epilogue": 0}
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "get_attr", "output"):
            continue
        region = "stack" if BLOCK in node.meta else "prologue" if node in needed else "epilogue"
        node.meta[REGION] = region
        counts[region] += 1
    return counts


def _check_boundaries(spec: StackSpec, nodes: dict[str, fx.Node], model_name: str) -> None:
    """Values computed inside a block may leave it only through its declared outputs."""
    outputs = {name for b in spec.blocks for name in b.outputs if name is not None}
    for b in spec.blocks:
        for name in b.outputs:
            if name is not None and nodes[name].meta.get(BLOCK) != b.index:
                raise UnsupportedModelError(f"{model_name}: output {name} of {b.path} is not computed inside it")
    for node in nodes.values():
        block = node.meta.get(BLOCK)
        if block is None or node.name in outputs:
            continue
        for user in node.users:
            if user.meta.get(BLOCK) != block:
                raise UnsupportedModelError(
                    f"{model_name}: {user.name} reads {node.name}, computed inside "
                    f"{spec.blocks[block].path}, other than through the block's outputs; the stack's "
                    f"blocks must communicate only through the hidden-state stream")
