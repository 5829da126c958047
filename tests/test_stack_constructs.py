"""Constructs of real models that the stack passes handle generically (issue 11), on toy models:
values a block computes without the stream and later code reads (hoisted), no-op aliases of a block's
input read after it (read from the input), in-place writes into intermediates (kept alive by the
dead-code pass), and a stream value crossing blocks outside their outputs (refused by name)."""
import pytest
import torch
from torch import nn

import xslim_compile as xs
from tests.helpers import rel_err

SCHEDULE = ["full", "full", "skip", "block", "token"]


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o, self.c = (nn.Linear(8, 8) for _ in range(5))

    def forward(self, h, cond, cos, skip=None):
        # `.float()` of a float32 tensor returns it: export then records the node inside this block, and
        # every later read of the tensor (other blocks, the epilogue) reads that node
        cond, h = cond.float(), h.float()
        if skip is not None:
            h = h + skip
        cos = cos.to(torch.float32)  # a real cast, made inside the block, read only here
        q = self.q(h + self.c(cond)[:, None])
        rotated = torch.empty_like(q)  # Wan's rotary: written in place, slice by slice
        rotated[..., 0::2] = q[..., 0::2] * cos[..., 0::2]
        rotated[..., 1::2] = q[..., 1::2] * cos[..., 1::2]
        a = nn.functional.scaled_dot_product_attention(rotated[:, None], self.k(h)[:, None], self.v(h)[:, None])
        return h + self.o(a[:, 0]), a[:, 0]


class Model(nn.Module):
    def __init__(self, long_skip: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList([Block() for _ in range(4)])
        self.long_skip = long_skip

    def forward(self, hidden_states, cond, cos):
        first = hidden_states  # block 0's `.float()` aliases it: read by block 3 below, a U-ViT long skip
        kept = None
        for i, block in enumerate(self.blocks):
            hidden_states, attention = block(hidden_states, cond, cos, first if i == 3 else None)
            if i == 0 and self.long_skip:
                kept = attention  # a stream value made inside block 0, not one of its stream outputs
        if kept is not None:
            hidden_states = hidden_states + kept
        return (hidden_states * 2 + cond[:, None],)


def _inputs(i: int):
    g = torch.Generator().manual_seed(i)
    return torch.randn(2, 10, 8, generator=g), torch.randn(2, 8, generator=g), torch.randn(10, 8, generator=g).double()


def test_stream_independent_values_are_hoisted_and_writes_kept():
    torch.manual_seed(0)
    model = Model().eval()
    opt = xs.optimize(model, xs.XSlimConfig(schedule=SCHEDULE, block_reuse=[1, 2], token_ratio=1.0, strict=True))
    for i in range(len(SCHEDULE)):
        inputs = _inputs(i)
        out = opt(*inputs)[0]
        if i in (0, 1, 4):  # full, and a token step keeping every token: exactly the model
            with torch.no_grad():
                assert rel_err(out, model(*inputs)[0]) <= 1e-5, SCHEDULE[i]
    assert opt.trace.variants() == SCHEDULE
    # each block's cond.float() hoisted (the next block and the epilogue read the last one), block 0's
    # hidden_states.float() bypassed (block 3 reads it)
    assert next(iter(opt._variant_sets.values())).builder.analysis["FindStack"]["hoisted_nodes"] == 5


def test_block_fed_its_own_residuals_keeps_the_in_place_writes():
    """The dead-code pass must not drop copy_ into the empty_like of a block that runs."""
    from xslim_compile.plan import Variant
    from xslim_compile.runtime.variant_set import VariantKey

    torch.manual_seed(0)
    model = Model().eval()
    opt = xs.optimize(model, xs.XSlimConfig(schedule=["full"], strict=True))
    opt(*_inputs(0))
    variants = next(iter(opt._variant_sets.values()))
    built = variants.get(VariantKey(Variant.BLOCK, reuse=(2,)))  # verified against full: raises if not
    gm = variants.builder.graph(VariantKey(Variant.BLOCK, reuse=(2,)))
    writes = [n for n in gm.graph.nodes if n.op == "call_function" and "copy_" in str(n.target)]
    assert len(writes) == 2 * 3 and built.cache_inputs  # two writes in each of the 3 blocks that run


def test_a_stream_value_crossing_blocks_is_refused_by_name():
    torch.manual_seed(0)
    model = Model(long_skip=True).eval()
    opt = xs.optimize(model, xs.XSlimConfig(schedule=["full"], strict=True))
    with pytest.raises(xs.UnsupportedModelError, match="blocks.0 from the hidden-state stream"):
        opt(*_inputs(0))
