"""Shared test helpers: counting attention ops actually run, relative errors."""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class CountOps(TorchDispatchMode):
    """Counts dispatched ATen ops whose name contains a substring (e.g. scaled_dot_product)."""

    def __init__(self, needle: str = "scaled_dot_product") -> None:
        super().__init__()
        self.needle, self.count = needle, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.needle in str(func):
            self.count += 1
        return func(*args, **(kwargs or {}))


def count_attention(fn, *args, **kwargs) -> int:
    with CountOps() as counter:
        fn(*args, **kwargs)
    return counter.count


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm()).item()


class Halved:
    """An attention processor computing half of another's output (a processor swap that matters)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __call__(self, *args, **kwargs):
        out = self.inner(*args, **kwargs)
        return tuple(0.5 * o for o in out) if isinstance(out, tuple) else 0.5 * out
