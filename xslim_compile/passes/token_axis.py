"""Token-axis analysis: which values of the stack carry the image-token axis, and how.

Starting from the stack inputs (the image slot is [B, N, D] with N image tokens; text slots are
[B, T, D], always recomputed), every stack node is given a TokenAxis: the dimension holding the
sequence and its layout, a list of text/image segments in sequence order (FLUX's joint sequence is
[text T; image N]). Side values (RoPE tables, conditioning) carry no axis until they meet a carrier;
where one broadcasts against a carrier along the token axis it is recorded as a `meet`, so that the
token variant can gather it at the kept positions. Any op that reads the token axis in a way the token
variant cannot reproduce on a subset of rows (a reduction over tokens, a reshape that merges them, an
attention the pass does not know) raises UnsupportedModelError naming the op and the node.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch import fx

from ..errors import UnsupportedModelError
from ..layout import StackSpec
from .graph_edit import BLOCK
from .graph_edit import node_shape as _shape

IMAGE, TEXT = "image", "text"
ELEMENTWISE = {
    "add", "sub", "mul", "div", "silu", "gelu", "tanh", "sigmoid", "exp", "neg", "pow", "rsqrt", "sqrt",
    "dropout", "to", "_to_copy", "contiguous", "clone", "alias", "detach", "clamp", "abs", "erf", "relu",
    "where", "square", "reciprocal", "masked_fill", "empty_like", "copy_",
}
SHAPE_FREE = {"flatten", "unflatten"}  # their size arguments never hold the token count
RESHAPES = {"view", "reshape", "_unsafe_view", "expand"}
SPLITS = {"split_with_sizes", "split", "chunk", "unbind"}
NORMS = {"layer_norm": 1, "rms_norm": 1}
ATTENTION = {"scaled_dot_product_attention"}


@dataclass(frozen=True)
class Segment:
    kind: str     # IMAGE or TEXT
    length: int   # rows in the full sequence


@dataclass(frozen=True)
class TokenAxis:
    dim: int
    segments: tuple[Segment, ...]

    @property
    def full(self) -> int:
        return sum(s.length for s in self.segments)

    def selected(self, kept: int) -> int:
        return sum(kept if s.kind == IMAGE else s.length for s in self.segments)

    def moved(self, dim: int) -> "TokenAxis":
        return TokenAxis(dim, self.segments)

    def cut(self, start: int, end: int) -> tuple["TokenAxis", tuple[int, int]]:
        """The segments in [start, end) (must be whole segments) and their segment index range."""
        edges = [0]
        for s in self.segments:
            edges.append(edges[-1] + s.length)
        end = min(end, self.full)
        if start not in edges or end not in edges or end <= start:
            raise ValueError(f"[{start}, {end}) does not follow segment edges {edges}")
        first, last = edges.index(start), edges.index(end)
        return TokenAxis(self.dim, self.segments[first:last]), (first, last)


@dataclass
class TokenPlan:
    """What the token rewrite must do; node names refer to the analysed graph."""

    image_tokens: int
    axes: dict[str, object] = field(default_factory=dict)          # node -> TokenAxis | list (tuples)
    meets: list[tuple[str, int, TokenAxis]] = field(default_factory=list)  # (node, arg index, axis)
    reshapes: dict[str, tuple[int, TokenAxis]] = field(default_factory=dict)  # node -> (out dim, axis)
    cuts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)    # node -> segment ranges
    attention: list[str] = field(default_factory=list)             # SDPA nodes with token keys/values


def _name(target) -> str:
    packet = getattr(target, "overloadpacket", None)
    return getattr(packet, "__name__", None) or getattr(target, "__name__", str(target))


class _Analysis:
    def __init__(self, gm: fx.GraphModule, spec: StackSpec, model_name: str) -> None:
        self.gm, self.spec, self.model_name = gm, spec, model_name
        self.nodes = {n.name: n for n in gm.graph.nodes}
        image = [s for s in spec.read_slots]
        if len(image) != 1:
            raise self.error(None, f"token steps need exactly one image stream read after the stack, found "
                                   f"{[spec.slots[s] for s in image]}")
        self.image_slot = image[0]
        shape = _shape(self.nodes[spec.stack_inputs[self.image_slot]])
        if shape is None or len(shape) != 3:
            raise self.error(None, f"the image stream enters the stack with shape {shape}; expected [B, N, D]")
        self.plan = TokenPlan(image_tokens=shape[1])

    def error(self, node: fx.Node | None, why: str) -> UnsupportedModelError:
        where = f" at node {node.name} ({node.target})" if node is not None else ""
        return UnsupportedModelError(f"{self.model_name}: the token variant cannot be built{where}: {why}. "
                                     f"The full, skip and block variants are unaffected.")

    def run(self) -> TokenPlan:
        axes = self.plan.axes
        for s, name in enumerate(self.spec.stack_inputs):
            if name is None:
                continue
            length = _shape(self.nodes[name])[1]
            axes[name] = TokenAxis(1, (Segment(IMAGE if s == self.image_slot else TEXT, length),))
        for node in self.gm.graph.nodes:
            if BLOCK in node.meta and node.op == "call_function":
                carried = [a for a in node.all_input_nodes if a.name in axes]
                if carried:
                    result = self.visit(node)
                    if result is not None:
                        axes[node.name] = result
        out = self.spec.stack_outputs[self.image_slot]
        want = TokenAxis(1, (Segment(IMAGE, self.plan.image_tokens),))
        if axes.get(out) != want:
            raise self.error(self.nodes[out], f"the image stream leaves the stack as {axes.get(out)}")
        return self.plan

    # --- rules -------------------------------------------------------------------------------
    def visit(self, node: fx.Node):
        op = _name(node.target)
        if op == "getitem":
            items = self.plan.axes[node.args[0].name]
            return items[node.args[1]] if isinstance(items, list) else None
        if op == "type_as":  # the second operand gives only its dtype
            return self.axis_of(node.args[0])
        if op in ELEMENTWISE:
            return self.broadcast(node)
        if op == "linear":
            return self.keep_if_not_last(node, node.args[0], 1)
        if op in NORMS:
            return self.keep_if_not_last(node, node.args[0], len(node.args[1]))
        if op in RESHAPES:
            return self.reshape(node)
        if op in SHAPE_FREE:
            return self.shape_free(node)
        if op in ("transpose", "permute", "unsqueeze", "squeeze", "select"):
            return self.move(node, op)
        if op == "repeat":  # tiling other dims (Lumina-Next's RoPE heads) keeps the token axis
            axis, lead = self.axis_of(node.args[0]), len(node.args[1]) - len(_shape(node.args[0]))
            if node.args[1][axis.dim + lead] != 1:
                raise self.error(node, "it repeats the token axis")
            return axis.moved(axis.dim + lead)
        if op in ("view_as_complex", "view_as_real"):  # complex RoPE: pairs the last dim only
            axis = self.axis_of(node.args[0])
            if axis.dim >= min(len(_shape(node.args[0])), len(_shape(node))) - 1:
                raise self.error(node, "it pairs values along the token axis")
            return axis
        if op in ("cat", "stack"):
            return self.concat(node, op)
        if op == "slice":
            return self.slice(node)
        if op in SPLITS:
            return self.split(node, op)
        if op in ATTENTION:
            return self.attention(node)
        if op in ("softmax", "_softmax"):
            return self.keep_unless_dim(node, node.args[1])
        if op in ("mean", "sum", "amax"):
            return self.reduce(node)
        raise self.error(node, f"op {op} reads the image-token axis and has no token rule")

    def axis_of(self, arg) -> TokenAxis | None:
        value = self.plan.axes.get(arg.name) if isinstance(arg, fx.Node) else None
        return value if isinstance(value, TokenAxis) else None

    def broadcast(self, node: fx.Node) -> TokenAxis:
        rank = len(_shape(node))
        found: TokenAxis | None = None
        for arg in node.args:
            axis = self.axis_of(arg)
            if axis is not None:
                aligned = axis.moved(axis.dim + rank - len(_shape(arg)))
                if found is not None and found != aligned:
                    raise self.error(node, f"operands carry different token layouts {found} and {aligned}")
                found = aligned
        for index, arg in enumerate(node.args):
            shape = _shape(arg)
            if shape is None or self.axis_of(arg) is not None:
                continue
            at = found.dim - (rank - len(shape))
            if at < 0 or shape[at] == 1:
                continue
            if shape[at] != found.full:
                raise self.error(node, f"operand {arg.name} has {shape[at]} rows on the token axis, not {found.full}")
            self.plan.meets.append((node.name, index, found))
        return found

    def keep_if_not_last(self, node, x, trailing: int) -> TokenAxis:
        axis = self.axis_of(x)
        if axis.dim >= len(_shape(x)) - trailing:
            raise self.error(node, "it mixes values along the token axis")
        return axis

    def keep_unless_dim(self, node, dim: int) -> TokenAxis:
        axis = self.axis_of(node.args[0])
        if dim % len(_shape(node.args[0])) == axis.dim:
            raise self.error(node, "it mixes values along the token axis")
        return axis

    def reduce(self, node) -> TokenAxis:
        x, axis = node.args[0], self.axis_of(node.args[0])
        rank = len(_shape(x))
        dims = node.args[1] if len(node.args) > 1 else list(range(rank))
        dims = sorted(d % rank for d in ([dims] if isinstance(dims, int) else dims))
        if axis.dim in dims:
            raise self.error(node, "it reduces over the token axis")
        keepdim = node.args[2] if len(node.args) > 2 else node.kwargs.get("keepdim", False)
        return axis if keepdim else axis.moved(axis.dim - sum(d < axis.dim for d in dims))

    def reshape(self, node) -> TokenAxis:
        x, axis = node.args[0], self.axis_of(node.args[0])
        before = math.prod(_shape(x)[:axis.dim])
        out = _shape(node)
        for d in range(len(out)):
            if math.prod(out[:d]) == before and out[d] == axis.full:
                self.plan.reshapes[node.name] = (d, axis)
                return axis.moved(d)
        raise self.error(node, f"it reshapes {list(_shape(x))} to {list(out)}, merging or splitting the token axis")

    def shape_free(self, node) -> TokenAxis:
        x, axis = node.args[0], self.axis_of(node.args[0])
        shape, out = _shape(x), _shape(node)
        before = math.prod(shape[:axis.dim])
        for d in range(len(out)):
            if math.prod(out[:d]) == before and out[d] == axis.full and math.prod(out[d + 1:]) == \
                    math.prod(shape[axis.dim + 1:]):
                return axis.moved(d)
        raise self.error(node, "it merges or splits the token axis")

    def move(self, node, op: str) -> TokenAxis:
        x, axis = node.args[0], self.axis_of(node.args[0])
        rank_in, rank_out = len(_shape(x)), len(_shape(node))
        if op == "transpose":
            a, b = (d % rank_in for d in node.args[1:3])
            return axis.moved(b if axis.dim == a else a if axis.dim == b else axis.dim)
        if op == "permute":
            return axis.moved([d % rank_in for d in node.args[1]].index(axis.dim))
        if op == "unsqueeze":
            dim = node.args[1] % rank_out
            return axis.moved(axis.dim + (1 if dim <= axis.dim else 0))
        if op == "select":
            dim = node.args[1] % rank_in
            if dim == axis.dim:
                raise self.error(node, "it picks one row of the token axis")
            return axis.moved(axis.dim - (1 if dim < axis.dim else 0))
        dims = node.args[1] if len(node.args) > 1 else [d for d, s in enumerate(_shape(x)) if s == 1]
        dims = [d % rank_in for d in ([dims] if isinstance(dims, int) else dims) if _shape(x)[d % rank_in] == 1]
        if axis.dim in dims:
            raise self.error(node, "it squeezes the token axis")
        return axis.moved(axis.dim - sum(d < axis.dim for d in dims))

    def concat(self, node, op: str) -> TokenAxis:
        tensors = node.args[0]
        rank_out = len(_shape(node))
        dim = (node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)) % rank_out
        axes = [self.axis_of(t) for t in tensors]
        if op == "stack":
            first = next(a for a in axes if a is not None)
            if any(a != first for a in axes):
                raise self.error(node, "it stacks values with different token layouts")
            return first.moved(first.dim + (1 if dim <= first.dim else 0))
        first = next(a for a in axes if a is not None)
        if dim == first.dim:  # a side value joined along the sequence (PRX's text keys) always runs
            return TokenAxis(dim, tuple(s for t, a in zip(tensors, axes)
                                        for s in (a.segments if a is not None else (Segment(TEXT, _shape(t)[dim]),))))
        for t, a in zip(tensors, axes):
            if a is None:
                raise self.error(node, f"operand {t.name} would need gathering inside a list")
            if a != first:
                raise self.error(node, "it joins values with different token layouts")
        return first

    def slice(self, node) -> TokenAxis:
        x, axis = node.args[0], self.axis_of(node.args[0])
        rank = len(_shape(x))
        dim = (node.args[1] if len(node.args) > 1 else 0) % rank
        if dim != axis.dim:
            return axis
        start = node.args[2] if len(node.args) > 2 else 0
        end = node.args[3] if len(node.args) > 3 else axis.full
        step = node.args[4] if len(node.args) > 4 else 1
        start = start + axis.full if start < 0 else start
        end = end + axis.full if end < 0 else end
        try:
            part, segments = axis.cut(start, end)
        except ValueError as e:
            raise self.error(node, f"it slices the token axis across a text/image boundary: {e}") from None
        if step != 1:
            raise self.error(node, "it strides over the token axis")
        self.plan.cuts[node.name] = [segments]
        return part

    def split(self, node, op: str) -> list:
        x, axis = node.args[0], self.axis_of(node.args[0])
        rank = len(_shape(x))
        default_dim = 0
        dim = (node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", default_dim)) % rank
        if op == "unbind":
            dim = (node.args[1] if len(node.args) > 1 else 0) % rank
            if dim == axis.dim:
                raise self.error(node, "it unbinds the token axis")
            count = _shape(x)[dim]
            return [axis.moved(axis.dim - (1 if dim < axis.dim else 0))] * count
        outputs = node.meta.get("val")
        count = len(outputs)
        if dim != axis.dim:
            return [axis] * count
        if op != "split_with_sizes":
            raise self.error(node, f"{op} cuts the token axis into equal parts")
        parts, ranges, at = [], [], 0
        for size in node.args[1]:
            try:
                part, segments = axis.cut(at, at + size)
            except ValueError as e:
                raise self.error(node, f"it splits the token axis across a text/image boundary: {e}") from None
            parts.append(part)
            ranges.append(segments)
            at += size
        self.plan.cuts[node.name] = ranges
        return parts

    def attention(self, node) -> TokenAxis:
        q, k, v = node.args[:3]
        qa, ka, va = self.axis_of(q), self.axis_of(k), self.axis_of(v)
        rank = len(_shape(q))
        mask = node.args[3] if len(node.args) > 3 else node.kwargs.get("attn_mask")
        if qa is None or qa.dim != rank - 2:
            raise self.error(node, "queries do not carry the token axis on dim -2")
        if isinstance(mask, fx.Node):
            self.attention_mask(node, mask, qa)
        if ka != va:
            raise self.error(node, "keys and values carry different token layouts")
        if ka is not None:
            if ka.dim != rank - 2:
                raise self.error(node, "keys do not carry the token axis on dim -2")
            if any(s.kind == IMAGE for s in ka.segments):
                self.plan.attention.append(node.name)
        return qa


    def attention_mask(self, node, mask: fx.Node, qa: TokenAxis) -> None:
        """A mask made before the stack (padding, segments) keeps its key columns: keys are the full
        sequence (cached K/V). Its query rows, when it has them, are gathered at the kept queries."""
        if self.axis_of(mask) is not None:
            raise self.error(node, "its attention mask is computed from the token stream")
        shape = _shape(mask)
        if shape is None or len(shape) < 2 or shape[-2] == 1:
            return
        if shape[-2] != qa.full:
            raise self.error(node, f"its attention mask has {shape[-2]} query rows, not {qa.full}")
        if len(node.args) <= 3:
            raise self.error(node, "its attention mask is passed by keyword")
        self.plan.meets.append((node.name, 3, qa))


def analyse_tokens(gm: fx.GraphModule, spec: StackSpec, model_name: str) -> TokenPlan:
    return _Analysis(gm, spec, model_name).run()
