"""Find the block stack by data flow and tag it.

A chain is a run of >= 2 sibling blocks (one ModuleList, one class) in which every block consumes the
previous block's outputs, directly or through glue (passes/links.py); two ModuleLists whose blocks
alternate (Latte: spatial, temporal, spatial, ...) form one chain. Chains linked the same way (FLUX:
double- then single-stream) form the stack; the longest linked sequence that passes its stream on
wins. Module names alone are not enough: DiT calls
`transformer_blocks[0].norm1.emb` again after the loop, so a block's body is the set of nodes recorded
inside *that block's call*, and its stream inputs/outputs come from the call signature export recorded.
"""
from __future__ import annotations

from torch import fx

from ..errors import UnsupportedModelError
from ..layout import BlockSpec, StackSpec
from .base import PassContext, PassResult
from .graph_edit import BLOCK, REGION, STACK
from .compound import compound, groups, past_layout_glue, same_layout
from .graph_edit import node_shape as shape
from .hoist import hoist
from .links import Linker

CRITERION = ("a chain of at least two sibling submodules of one class (one nn.ModuleList), each "
             "consuming the previous one's hidden-state output")


def _chains(block_calls, link) -> list[list]:
    groups: dict[str, list] = {}
    for path, call in block_calls.items():
        parent, _, index = path.rpartition(".")
        groups.setdefault(parent, []).append((int(index), call))
    lists = {parent: [c for _, c in sorted(calls, key=lambda x: x[0])] for parent, calls in groups.items()}
    chains = []
    for parent, calls in lists.items():
        if len(calls) >= 2 and all(link(a, b) for a, b in zip(calls, calls[1:])):
            chains.append(calls)
    for p, q in ((p, q) for p in lists for q in lists if p != q and len(lists[p]) == len(lists[q]) >= 2):
        mixed = [c for pair in zip(lists[p], lists[q]) for c in pair]
        if all(link(a, b) for a, b in zip(mixed, mixed[1:])):
            chains.append(mixed)
    return chains


def _linked_sequences(chains: list[list], position, link, attends) -> list[list[list]]:
    """Every linked run of chains (each chain starts one, and every suffix of one counts): runs whose
    blocks attend first (an MLP's ModuleList of Linear layers is a chain too), then the most blocks,
    then the one that runs last: a text-refiner chain feeding the image chain only as a side input
    (Kandinsky 5) drops out when its slot is not passed on, leaving the image chain."""
    runs = []
    for start in chains:
        seq = [start]
        while True:
            nxt = [c for c in chains if c not in seq and link(seq[-1][-1], c[0])]
            if not nxt:
                break
            seq.append(nxt[0])
        runs.extend(seq[i:] for i in range(len(seq)))
    return sorted(runs, key=lambda seq: (not attends(seq[0][0]), -sum(map(len, seq)), -position(seq[0][0])))


def _first_valid(runs: list[list[list]], model_name: str, link, nodes: dict[str, fx.Node]
                 ) -> tuple[StackSpec, list[fx.Node]]:
    first_error = None
    for seq in runs:
        try:
            spec = _stack_spec(seq, model_name, link)
        except UnsupportedModelError as error:
            first_error = first_error or error
            continue
        spec, entry = _past_entry_split(spec, nodes)
        merged = groups(spec, nodes)
        if len(merged) >= 2 and all(same_layout(g[0].inputs, g[-1].outputs, nodes) for g in merged):
            return spec, entry  # else a chain that reshapes its stream for good (a conv encoder, a text refiner)
        first_error = first_error or UnsupportedModelError(
            f"{model_name}: the blocks of {spec.chain_paths} never hand the stream on in the layout it "
            f"entered in; expected {CRITERION}")
    raise first_error


def _stack_spec(seq: list[list], model_name: str, link) -> StackSpec:
    first = link(seq[0][0], seq[0][1])
    input_order = [name for name, _ in seq[0][1].inputs]
    slots = tuple(sorted(set(first.values()), key=input_order.index))
    blocks, names = [], {s: s for s in slots}
    for chain_index, chain in enumerate(seq):
        inverse = {name: pos for pos, name in link(chain[0], chain[1]).items()}
        missing = [names[s] for s in slots if names[s] not in inverse]
        if missing:
            raise UnsupportedModelError(f"{model_name}: blocks of {chain[0].path.rpartition('.')[0]} do not "
                                        f"pass on stream input(s) {missing}; expected {CRITERION}")
        extra = sorted(set(inverse) - {names[s] for s in slots})
        if extra:  # a text-refiner chain in front of the image chains (HunyuanVideo) is not the stack
            raise UnsupportedModelError(f"{model_name}: blocks of {chain[0].path.rpartition('.')[0]} carry "
                                        f"stream input(s) {extra} that the chains before them do not")
        positions = {s: inverse[names[s]] for s in slots}
        for call in chain:
            inputs = dict(call.inputs)
            blocks.append(BlockSpec(
                index=len(blocks), path=call.path, chain=chain_index,
                inputs=tuple(inputs.get(names[s]) for s in slots),
                outputs=tuple(call.outputs[positions[s]] if positions[s] < len(call.outputs) else None
                              for s in slots)))
        if chain_index + 1 < len(seq):
            linked = link(chain[-1], seq[chain_index + 1][0])
            names = {s: linked.get(positions[s], names[s]) for s in slots}
    # a block's output is what the next block reads: past any glue between them
    blocks = [BlockSpec(b.index, b.path, b.chain, b.inputs,
                        tuple(n if o is not None and n is not None else o for o, n in zip(b.outputs, after.inputs)))
              for b, after in zip(blocks, blocks[1:])] + blocks[-1:]
    return StackSpec(slots=slots, blocks=tuple(blocks), chain_paths=tuple(_chain_path(c) for c in seq),
                     read_slots=())


def _past_entry_split(spec: StackSpec, nodes: dict[str, fx.Node]) -> tuple[StackSpec, list[fx.Node]]:
    """Context parallelism may split the stream at the first block's call (diffusers' Wan plan shards
    `blocks.0`'s hidden_states in a hook, which runs inside that call): the first block then takes the
    whole sequence and hands on a shard. The parameter-free ops from its stream input to a value in the
    layout the second block takes (a chunk and its item) belong before the stack: the first block's
    input moves past them, and they are returned to be left out of its body."""
    first, second = spec.blocks[0], spec.blocks[1] if len(spec.blocks) > 1 else None
    if second is None:
        return spec, []
    inputs, moved = list(first.inputs), []
    for slot, (name, want) in enumerate(zip(first.inputs, second.inputs)):
        if name is None or want is None or shape(nodes[name]) == shape(nodes[want]):
            continue
        node, path = nodes[name], []
        while len(path) < 4:
            users = [u for u in node.users if u.op == "call_function" and _inside(u, first.path) and u.users
                     and all(i is node for i in u.all_input_nodes)]  # (a chunk's other items are dead)
            if len(users) != 1:
                break
            node = users[0]
            path.append(node)
            if shape(node) == shape(nodes[want]):
                inputs[slot] = node.name
                moved += path
                break
    if not moved:
        return spec, []
    first = BlockSpec(first.index, first.path, first.chain, tuple(inputs), first.outputs)
    return StackSpec(spec.slots, (first,) + spec.blocks[1:], spec.chain_paths, spec.read_slots), moved


def _inside(node: fx.Node, path: str) -> bool:
    """Recorded inside the block's call (an item of a tuple may carry no module stack: it follows its source)."""
    stack = node.meta.get("nn_module_stack")
    return stack is None or any(entry[0] == path for entry in stack.values())


def _chain_path(chain: list) -> str:
    return "+".join(dict.fromkeys(c.path.rpartition(".")[0] for c in chain))


class FindStack:
    """Tag block bodies (node.meta[BLOCK]) and store the StackSpec in gm.meta[STACK]."""

    def __call__(self, gm: fx.GraphModule, ctx: PassContext) -> PassResult:
        linker = Linker(gm, ctx.block_calls)
        runs = _linked_sequences(_chains(ctx.block_calls, linker.link),
                                 lambda call: min((linker.order[o] for o in call.outputs if o in linker.order),
                                                  default=0), linker.link, linker.attends)
        if not runs:
            raise UnsupportedModelError(f"{ctx.model_name}: no block stack found; the compiler needs {CRITERION}")
        nodes = {n.name: n for n in gm.graph.nodes}
        spec, entry = _first_valid(runs, ctx.model_name, linker.link, nodes)
        index_of = {block.path: block.index for block in spec.blocks}
        for node in gm.graph.nodes:
            stack = node.meta.get("nn_module_stack") or {}
            found = [index_of[entry[0]] for entry in stack.values() if entry[0] in index_of]
            if node.op == "call_function" and found and node not in entry:
                node.meta[BLOCK] = found[0]
        for block, after in zip(spec.blocks, spec.blocks[1:]):
            for name in after.inputs:
                for glue in (linker.glue(name, block.path) or ()) if name is not None else ():
                    nodes[glue].meta[BLOCK] = block.index
        spec = compound(past_layout_glue(spec, nodes), gm, nodes)
        hoisted = hoist(gm, spec)
        _check_boundaries(spec, nodes, ctx.model_name)
        read = tuple(i for i, name in enumerate(spec.stack_outputs)
                     if name is not None and any(BLOCK not in u.meta for u in nodes[name].users))
        if not read:
            raise UnsupportedModelError(f"{ctx.model_name}: nothing after the stack reads its output")
        spec = StackSpec(spec.slots, spec.blocks, spec.chain_paths, read)
        gm.meta[STACK] = spec
        regions = _tag_regions(gm)
        return PassResult(gm, modified=hoisted > 0, stats={
            "blocks": spec.num_blocks, "chains": len(spec.chain_paths), "slots": len(spec.slots),
            "body_nodes": regions["stack"], "hoisted_nodes": hoisted, "prologue_nodes": regions["prologue"],
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
                    f"{spec.blocks[block].path} from the hidden-state stream, other than through the "
                    f"block's outputs (a long skip connection?); the stack's blocks must communicate only "
                    f"through the stream (values that do not depend on it are hoisted out of the blocks)")
