"""The variants one input signature was built into, and how a call feeds them."""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch.utils import _pytree as pytree

from ..layout import StackSpec
from ..plan import Variant
from .rules import VariantKey  # noqa: F401  (re-exported: where callers have always imported it)
from .signature import InputSignature

logger = logging.getLogger(__name__)


@dataclass
class CompiledVariant:
    key: VariantKey
    run: Callable[..., tuple]
    cache_inputs: tuple[str, ...]
    cache_outputs: tuple[str, ...]
    num_user_outputs: int
    cache_bytes: int | None = None  # bytes of the caches a call returns (static shapes: measured once)

    def __call__(self, tensors: list, caches: Mapping[str, torch.Tensor]) -> tuple[list, dict]:
        out = self.run(*tensors, *[caches[name] for name in self.cache_inputs])
        n = self.num_user_outputs
        produced = dict(zip(self.cache_outputs, out[n:]))
        if self.cache_bytes is None:
            self.cache_bytes = sum(t.numel() * t.element_size() for t in produced.values())
        return list(out[:n]), produced


class VariantSet:
    """Variants of one signature, built on demand by the compile-side factory; block variants LRU."""

    def __init__(self, signature: InputSignature, out_spec, tensor_positions: tuple[int, ...],
                 stack: StackSpec, image_tokens: int, factory: Callable[[VariantKey], CompiledVariant],
                 fingerprint: int, max_block_variants: int) -> None:
        self.signature = signature
        self.out_spec = out_spec
        self.tensor_positions = tensor_positions
        self.stack = stack
        self.image_tokens = image_tokens
        self.fingerprint = fingerprint
        self._factory = factory
        self._max_blocks = max_block_variants
        self._variants: OrderedDict[VariantKey, CompiledVariant] = OrderedDict()
        self.failed: dict[VariantKey, str] = {}  # variants that could not be built: why
        self.builder: object | None = None  # the compile-side builder, kept for inspection

    def get(self, key: VariantKey) -> CompiledVariant:
        variant = self._variants.get(key)
        if variant is None:
            logger.info("building variant %s", key)
            variant = self._factory(key)
            self._variants[key] = variant
            blocks = [k for k in self._variants if k.variant is Variant.BLOCK]
            if len(blocks) > self._max_blocks:
                del self._variants[blocks[0]]
        else:
            self._variants.move_to_end(key)
        return variant

    def built(self) -> dict[VariantKey, CompiledVariant]:
        return dict(self._variants)

    def tensors(self, leaves: list) -> list:
        return [leaves[i] for i in self.tensor_positions]

    def unflatten(self, outputs: list):
        return pytree.tree_unflatten(outputs, self.out_spec)
