"""How block calls feed each other: directly, or through glue the model runs between two blocks.

Glue is what a model computes on the stream between one block and the next, outside their ModuleList: a
reshape between spatial and temporal blocks (Latte), a face cross-attention added every few blocks
(ConsisID), a new text-encoder layer merged into the text stream (Bria Fibo). It belongs to the block
before it: it runs when that block runs and its effect is part of that block's residual.
"""
from __future__ import annotations

from torch import fx


ATTENTION = ("scaled_dot_product", "flex_attention", "softmax")


class Linker:
    def __init__(self, gm: fx.GraphModule, block_paths) -> None:
        paths = set(block_paths)
        self.nodes = {n.name: n for n in gm.graph.nodes}
        self.order = {n.name: i for i, n in enumerate(gm.graph.nodes)}
        self.owner: dict[str, str] = {}  # node -> the block call it was recorded in
        for node in gm.graph.nodes:
            for entry in (node.meta.get("nn_module_stack") or {}).values():
                if entry[0] in paths:
                    self.owner[node.name] = entry[0]
                    break
        self._cache: dict[tuple[str, str], tuple[str, ...] | None] = {}

    def attends(self, call) -> bool:
        """Whether the block call runs an attention (SDPA, flex, or a softmax over scores)."""
        return any(self.owner.get(n) == call.path and any(k in str(node.target) for k in ATTENTION)
                   for n, node in self.nodes.items())

    def link(self, a, b) -> dict[int, str]:
        """{output position of call a: input name of call b} for every output of a that b consumes,
        directly or through glue that reads nothing else of a (nor of any other block)."""
        positions = {node: i for i, node in enumerate(a.outputs) if node is not None}
        found = {}
        for name, node in b.inputs:
            if node in positions:
                found[positions[node]] = name
            elif node is not None:
                source = self.source(node, a.path)
                if source in positions:
                    found[positions[source]] = name
        return found

    def source(self, name: str, path: str) -> str | None:
        """The one node of block `path` that glue ending at `name` reads, or None."""
        glue = self.glue(name, path)
        if not glue:
            return None
        inside = set(glue)
        read = {i.name for g in glue for i in self.nodes[g].all_input_nodes
                if i.name not in inside and self._sibling(i.name, path)}
        if len(read) != 1 or self.owner.get(next(iter(read))) != path:
            return None
        source = read.pop()  # glue that joins the stream with more (text + image tokens) starts a new one
        return source if _numel(self.nodes[source]) == _numel(self.nodes[name]) else None

    def glue(self, name: str, path: str) -> tuple[str, ...] | None:
        """The nodes on paths from block `path` to node `name` (name included) outside every block of
        path's ModuleList (blocks of other lists between them, like WanAnimate's face adapter, are glue)."""
        key = (name, path)
        if key not in self._cache:
            self._cache[key] = self._glue(name, path)
        return self._cache[key]

    def _sibling(self, name: str, path: str) -> bool:
        owner = self.owner.get(name)
        return owner is not None and owner.rpartition(".")[0] == path.rpartition(".")[0]

    def _glue(self, name: str, path: str) -> tuple[str, ...] | None:
        if name in self.owner:
            return None
        seen, todo = {name}, [name]
        while todo:  # everything outside path's list that `name` is computed from
            for i in self.nodes[todo.pop()].all_input_nodes:
                if not self._sibling(i.name, path) and i.name not in seen:
                    seen.add(i.name)
                    todo.append(i.name)
        reached: set[str] = set()
        for n in sorted(seen, key=self.order.__getitem__):  # of those, what block `path` reaches
            if any(self.owner.get(i.name) == path or i.name in reached for i in self.nodes[n].all_input_nodes):
                reached.add(n)
        return tuple(sorted(reached, key=self.order.__getitem__)) if name in reached else None


def _numel(node: fx.Node) -> int | None:
    value = node.meta.get("val")
    return value.numel() if hasattr(value, "numel") else None
