"""Capture of the real forward with torch.export (non-strict), one graph per input signature.

The exported program is unlifted into a GraphModule whose get_attr nodes point at the model's own
parameter objects (no copies), and whose forward takes the flat tensor leaves of the call.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn
from torch.utils import _pytree as pytree

from .capture_patches import capture_patches
from .errors import CaptureError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlockCall:
    """One block module's call as torch.export recorded it: node names of its inputs and outputs."""

    path: str                                  # e.g. "transformer_blocks.3"
    inputs: tuple[tuple[str, str | None], ...]  # (argument name, node name or None for a constant)
    outputs: tuple[str | None, ...]             # node name per returned leaf, None for a constant


@dataclass
class CapturedGraph:
    gm: fx.GraphModule            # forward(*tensor_leaves) -> tuple of output leaves
    in_spec: pytree.TreeSpec      # of ((), kwargs)
    out_spec: pytree.TreeSpec
    tensor_positions: tuple[int, ...]  # which leaves of in_spec are tensors (graph placeholders)
    constants: tuple[tuple[int, Any], ...]  # the non-tensor leaves the graph was specialised on
    block_calls: dict[str, BlockCall]


def find_block_candidates(model: nn.Module) -> list[str]:
    """Paths of the children of every ModuleList holding >= 2 modules of one class, in order."""
    paths = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) < 2:
            continue
        classes = {type(child) for child in module}
        if len(classes) == 1:
            paths.extend(f"{name}.{i}" if name else str(i) for i in range(len(module)))
    return paths


def _leaf_names(spec: pytree.TreeSpec) -> list[str]:
    """Readable names ('hidden_states', 'image_rotary_emb.0', ...) of the leaves of a ((), kwargs) spec."""
    dummy = pytree.tree_unflatten(list(range(spec.num_leaves)), spec)
    names = [""] * spec.num_leaves
    for path, leaf in pytree.tree_flatten_with_path(dummy)[0]:
        parts = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
        names[leaf] = ".".join(parts[1:] if len(parts) > 1 and parts[0] in ("0", "1") else parts)
    return names


def _block_calls(model: nn.Module, ep: torch.export.ExportedProgram, paths: list[str]) -> dict[str, BlockCall]:
    calls = {}
    for entry in ep.module_call_graph:
        if entry.fqn not in paths or entry.signature is None:
            continue
        sig = entry.signature
        positional = list(inspect.signature(model.get_submodule(entry.fqn).forward).parameters)
        arg_names = [positional[int(n)] if n.isdigit() and int(n) < len(positional) else n
                     for n in _leaf_names(sig.in_spec)]
        inputs = tuple((arg_names[i], getattr(a, "name", None) if type(a).__name__ == "TensorArgument" else None)
                       for i, a in enumerate(sig.inputs))
        outputs = tuple(getattr(a, "name", None) if type(a).__name__ == "TensorArgument" else None
                        for a in sig.outputs)
        calls[entry.fqn] = BlockCall(entry.fqn, inputs, outputs)
    return calls


def _flatten_graph(gm: fx.GraphModule, leaves: list) -> tuple[int, ...]:
    """Drop the export guards and the constant placeholders; make forward take flat tensor leaves."""
    for node in list(gm.graph.nodes):
        if node.op == "call_module" and "guards" in str(node.target) and not node.users:
            gm.graph.erase_node(node)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(leaves):
        raise CaptureError(f"exported graph has {len(placeholders)} inputs for {len(leaves)} call leaves")
    tensor_positions = []
    for i, (node, leaf) in enumerate(zip(placeholders, leaves)):
        if isinstance(leaf, torch.Tensor):
            tensor_positions.append(i)
        elif node.users:
            raise CaptureError(f"non-tensor input {node.name}={leaf!r} is read by the graph")
        else:
            gm.graph.erase_node(node)
    gm.graph._codegen = fx.graph.CodeGen()
    return tuple(tensor_positions)


def capture(model: nn.Module, kwargs: dict, block_paths: list[str]) -> CapturedGraph:
    """Export model(**kwargs) and return the flat GraphModule with its call specs and block calls."""
    name = type(model).__name__
    try:
        with torch.no_grad(), capture_patches():
            ep = torch.export.export(model, (), kwargs=kwargs, strict=False,
                                     preserve_module_call_signature=tuple(block_paths))
    except Exception as e:  # export raises many kinds; the cause is kept
        raise CaptureError(f"torch.export (non-strict) could not capture {name}.forward: "
                           f"{type(e).__name__}: {e}".strip()) from e
    unlifted = ep.module()
    leaves, in_spec = pytree.tree_flatten(((), kwargs))
    if in_spec != ep.call_spec.in_spec:
        raise CaptureError(f"{name}: exported input structure differs from the call's")
    tensor_positions = _flatten_graph(unlifted, leaves)
    # a fresh GraphModule: no input-check hooks; get_attr targets are the model's own parameter objects
    gm = fx.GraphModule(unlifted, unlifted.graph, class_name=f"{name}Captured")
    constants = tuple((i, leaf) for i, leaf in enumerate(leaves) if i not in tensor_positions)
    logger.info("captured %s: %d nodes", name, len(gm.graph.nodes))
    return CapturedGraph(gm, in_spec, ep.call_spec.out_spec, tensor_positions, constants,
                         _block_calls(model, ep, block_paths))
