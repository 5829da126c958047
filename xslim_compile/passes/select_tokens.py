"""The `token` variant: only k image tokens (per sample) run through the stack.

- Scoring on the device: per sample, the channel mean of |Δ_last − Δ_prev| over the image tokens;
  the top k are kept. Text tokens always run.
- The kept rows are gathered at the stack input; per-token layers then run on them as they are
  (the token-axis analysis rewrote every shape that named the token count).
- Side values meeting the token axis (RoPE tables) are gathered at the kept positions.
- In every attention whose keys carry image tokens, keys and values are the ones cached at the last
  full step with the fresh rows written in at their positions; queries come from the kept rows only.
- After the stack the kept rows take their fresh output; the others take I + Δ̂ (the skip
  approximation: Δ_last, or with history > 1 the forecast of passes/forecast.py). The step returns
  its Δ = O − I. With history 1 it also returns delta_prev with only the kept rows moved on, so that
  a second token step ranks the rows the first one did not run by their pending change; with a
  forecast the other rows' Δ moves along the forecast, which ranks them by its increment, and the
  runtime rolls the whole history as after any computed step.
"""
from __future__ import annotations

import operator

import torch
from torch import fx

from ..errors import ConfigError
from .base import PassContext, PassResult
from .emit_caches import emit_delta
from .forecast import add_forecast
from .graph_edit import (BLOCK, STACK, add_cache_input, add_outputs, call, latest, nodes_by_name,
                         remove_dead_code)
from .token_axis import IMAGE, TokenAxis, TokenPlan

aten = torch.ops.aten


TOKEN_INDEX = "xslim_token_index"  # node.meta key marking the kept-positions node (tests read it)


def kv_cache_names(sdpa: str) -> tuple[str, str]:
    return f"kv.{sdpa}.key", f"kv.{sdpa}.value"


class _Emitter:
    """Inserts nodes one after another from a starting point."""

    def __init__(self, gm: fx.GraphModule, after: fx.Node) -> None:
        self.gm, self.after = gm, after

    def __call__(self, target, *args, **kwargs) -> fx.Node:
        node = call(self.gm, target, *args, after=self.after, **kwargs)
        self.after = node
        return node


class SelectTokens:
    def __init__(self, plan: TokenPlan, kept: int, cache_dtype: torch.dtype | None = None, history: int = 1) -> None:
        self.plan, self.kept, self.cache_dtype, self.history = plan, kept, cache_dtype, history

    def __call__(self, gm: fx.GraphModule, ctx: PassContext) -> PassResult:
        plan, k = self.plan, self.kept
        if not 1 <= k <= plan.image_tokens:
            raise ConfigError(f"{ctx.model_name}: a token bucket of {k} tokens is outside the allowed range "
                              f"1..{plan.image_tokens} (the image tokens)")
        spec, nodes = gm.meta[STACK], nodes_by_name(gm)
        slot = spec.slots[spec.read_slots[0]]
        stack_in = nodes[spec.stack_inputs[spec.read_slots[0]]]
        stack_out = nodes[spec.stack_outputs[spec.read_slots[0]]]
        value = stack_in.meta["val"]
        batch, _, width = value.shape
        self.device = value.device
        self.batch = batch

        delta = add_cache_input(gm, f"delta.{slot}", like=stack_out)
        previous = add_cache_input(gm, f"delta_prev.{slot}", like=stack_out)
        forecast = add_forecast(gm, slot, stack_out, self.history)
        emit = _Emitter(gm, latest(gm, previous, forecast))
        score = emit(aten.mean.dim, emit(aten.abs.default, emit(aten.sub.Tensor, delta, previous)), [-1])
        # [B, k] kept image positions, in topk's order: gathers, scatters and attention over keys do not
        # depend on row order, so no sort
        self.index = emit(operator.getitem, emit(aten.topk.default, score, k, 1), 1)
        self.index.meta[TOKEN_INDEX] = True
        self.positions = {}
        layouts = [axis for _, _, axis in plan.meets]
        layouts += [plan.axes[nodes[name].args[1].name] for name in plan.attention]
        for axis in layouts:  # built here, before any use, from the placeholders alone
            self._position_index(axis, emit)
        # one K/V scatter index per layout and shape, shared by K, V and every layer (fewer nodes: a
        # token step is host-bound where the GPU is not busy)
        shared, self.kv_index = {}, {}   # kv_index: (attention, K/V position) -> its index node
        for name in plan.attention:
            for position in (1, 2):
                fresh = nodes[name].args[position]
                axis, shape = plan.axes[fresh.name], list(fresh.meta["val"].shape)
                key = (axis.segments, axis.dim, tuple(shape))
                if key not in shared:
                    shared[key] = self._index_like(axis, shape, emit)
                self.kv_index[name, position] = shared[key]
        self.ready = emit.after  # every later insertion goes after this (and after what it reads)

        rows = _Emitter(gm, latest(gm, stack_in, self.ready))
        row_index = rows(aten.expand.default, rows(aten.unsqueeze.default, self.index, -1), [batch, k, width])
        kept = rows(aten.gather.default, stack_in, 1, row_index)
        stack_in.replace_all_uses_with(kept, delete_user_cb=lambda u: BLOCK in u.meta)

        self._gather_side_values(gm, nodes)
        self._rewrite_shapes(nodes)
        self._attend_to_cached_keys(gm, nodes)

        after = _Emitter(gm, stack_out)
        approx = after(aten.add.Tensor, stack_in, forecast)
        fresh_index = after(aten.expand.default, after(aten.unsqueeze.default, self.index, -1), [batch, k, width])
        merged = after(aten.scatter.src, approx, 1, fresh_index, stack_out)
        stack_out.replace_all_uses_with(merged, delete_user_cb=lambda u: BLOCK not in u.meta and u is not merged)
        named = emit_delta(gm, {stack_out.name: merged})
        if self.history == 1:
            # the rows that ran move their Δ to delta_prev; the others keep theirs, so that their pending
            # change still ranks them at the next token step (instead of scoring zero)
            moved = after(aten.scatter.src, previous, 1, fresh_index,
                          after(aten.gather.default, delta, 1, fresh_index))
            named.append((f"delta_prev.{slot}", moved))
        add_outputs(gm, named)
        removed = remove_dead_code(gm)
        return PassResult(gm, modified=True, stats={"kept_tokens": k, "gathered_side_values": len(plan.meets),
                                                    "attention_with_cached_kv": len(plan.attention), "history": self.history,
                                                    "removed_nodes": removed})

    def _position_index(self, axis: TokenAxis, emit: _Emitter) -> fx.Node:
        """[B, selected length]: where each kept row of this layout sits in the full sequence."""
        if axis.segments not in self.positions:
            parts, offset = [], 0
            for segment in axis.segments:
                if segment.kind == IMAGE:
                    parts.append(emit(aten.add.Tensor, self.index, offset) if offset else self.index)
                else:
                    rng = emit(aten.arange.start, offset, offset + segment.length, dtype=torch.int64,
                               device=self.device)
                    parts.append(emit(aten.expand.default, emit(aten.unsqueeze.default, rng, 0),
                                      [self.batch, segment.length]))
                offset += segment.length
            self.positions[axis.segments] = parts[0] if len(parts) == 1 else emit(aten.cat.default, parts, 1)
        return self.positions[axis.segments]

    def _index_like(self, axis: TokenAxis, shape: list[int], emit: _Emitter) -> fx.Node:
        """The position index shaped to gather/scatter along axis.dim of a tensor of `shape`."""
        selected = axis.selected(self.kept)
        view = [self.batch] + [1] * (len(shape) - 1)
        view[axis.dim] = selected
        target = list(shape)
        target[0], target[axis.dim] = self.batch, selected
        index = emit(aten.view.default, self._position_index(axis, emit), view)
        return emit(aten.expand.default, index, target)

    def _gather_side_values(self, gm: fx.GraphModule, nodes: dict[str, fx.Node]) -> None:
        done: dict[tuple, fx.Node] = {}
        for name, position, axis in self.plan.meets:
            node = nodes[name]
            side = node.args[position]
            rank = len(node.meta["val"].shape)
            key = (side.name, rank, axis)
            if key not in done:
                emit = _Emitter(gm, latest(gm, side, self.ready))
                shape = list(side.meta["val"].shape)
                shape = [1] * (rank - len(shape)) + shape
                x = emit(aten.view.default, side, shape)
                if shape[0] != self.batch:
                    shape[0] = self.batch
                    x = emit(aten.expand.default, x, shape)
                done[key] = emit(aten.gather.default, x, axis.dim, self._index_like(axis, shape, emit))
            args = list(node.args)
            args[position] = done[key]
            node.args = tuple(args)

    def _rewrite_shapes(self, nodes: dict[str, fx.Node]) -> None:
        for name, (dim, axis) in self.plan.reshapes.items():
            node = nodes[name]
            shape = list(node.meta["val"].shape)
            shape[dim] = axis.selected(self.kept)
            node.args = (node.args[0], shape) + tuple(node.args[2:])
        for name, ranges in self.plan.cuts.items():
            node = nodes[name]
            axis = self.plan.axes[node.args[0].name]
            edges = [0]
            for segment in axis.segments:
                edges.append(edges[-1] + (self.kept if segment.kind == IMAGE else segment.length))
            if "split" in str(node.target):
                node.args = (node.args[0], [edges[b] - edges[a] for a, b in ranges]) + tuple(node.args[2:])
            else:
                (a, b), = ranges
                node.args = (node.args[0], node.args[1], edges[a], edges[b]) + tuple(node.args[4:])

    def _attend_to_cached_keys(self, gm: fx.GraphModule, nodes: dict[str, fx.Node]) -> None:
        for name in self.plan.attention:
            sdpa = nodes[name]
            args = list(sdpa.args)
            for position, cache_name in zip((1, 2), kv_cache_names(name)):
                fresh = args[position]
                axis = self.plan.axes[fresh.name]
                cache = add_cache_input(gm, cache_name, like=fresh)
                emit = _Emitter(gm, sdpa.prev)
                if self.cache_dtype is not None:
                    cache = emit(aten._to_copy.default, cache, dtype=fresh.meta["val"].dtype)
                args[position] = emit(aten.scatter.src, cache, axis.dim, self.kv_index[name, position], fresh)
            sdpa.args = tuple(args)
