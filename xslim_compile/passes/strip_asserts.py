"""Remove export's tensor-metadata assertions.

They are marked side-effectful, so dead-code elimination would keep them, and with them the block
computations they check; the runtime guards the input signature instead.
"""
from __future__ import annotations

from torch import fx

from .base import PassContext, PassResult
from .graph_edit import strip_metadata_asserts


class StripAsserts:
    def __call__(self, gm: fx.GraphModule, ctx: PassContext) -> PassResult:
        removed = strip_metadata_asserts(gm)
        return PassResult(gm, modified=removed > 0, stats={"removed": removed})
