"""Input signatures: what a captured graph was built for, and the check a call must pass to reuse it."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

from ..errors import ArgumentError


def normalize_call(model: nn.Module, args: tuple, kwargs: dict) -> dict:
    """Bind a call to keyword arguments only; a bad call raises the model's own TypeError."""
    signature = inspect.signature(model.forward)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as bind_error:
        model.forward(*args, **kwargs)  # raises the TypeError the original model gives
        raise bind_error
    out = dict(bound.arguments)
    for name, param in signature.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD and name in out:
            out.update(out.pop(name))
        elif param.kind is inspect.Parameter.VAR_POSITIONAL and name in out:
            raise ArgumentError(f"{type(model).__name__}.forward takes *{name}; xslim_compile needs inputs "
                            f"it can address by name")
    return out


@dataclass(frozen=True)
class TensorMeta:
    shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device

    def __str__(self) -> str:
        return f"{self.dtype}{list(self.shape)}@{self.device}"


@dataclass(frozen=True)
class InputSignature:
    """Structure of the call (which inputs are present), its non-tensor values, and tensor metadata."""

    spec: Any                      # pytree TreeSpec of ((), kwargs)
    constants: tuple[tuple[int, Any], ...]
    tensors: tuple[tuple[int, TensorMeta], ...]

    def describe(self) -> str:
        names = pytree.tree_unflatten(list(range(self.spec.num_leaves)), self.spec)[1]
        where = {v: k for k, v in pytree.tree_flatten_with_path(names)[0]}
        parts = [f"{where.get(i, i)}={meta}" for i, meta in self.tensors]
        parts += [f"{where.get(i, i)}={value!r}" for i, value in self.constants]
        return ", ".join(parts)


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def flatten_call(kwargs: dict) -> tuple[list, InputSignature]:
    leaves, spec = pytree.tree_flatten(((), kwargs))
    constants, tensors = [], []
    for i, leaf in enumerate(leaves):
        if isinstance(leaf, torch.Tensor):
            tensors.append((i, TensorMeta(tuple(leaf.shape), leaf.dtype, leaf.device)))
        else:
            constants.append((i, _hashable(leaf)))
    return leaves, InputSignature(spec, tuple(constants), tuple(tensors))
