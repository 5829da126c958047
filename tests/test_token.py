"""The token variant: parity at k = N, FLOPs at ratio r, per-sample selection, bad buckets, and an
error below skip's on real DDIM steps of the reference model."""
import pytest
import torch

import xslim_compile as xs
from benchmarks.common import count_flops
from tests.conftest import FAMILY_NAMES
from tests.helpers import count_attention, rel_err
from xslim_compile.passes.select_tokens import TOKEN_INDEX
from xslim_compile.plan import Variant
from xslim_compile.runtime.variant_set import VariantKey
from xslim_compile.verify import record_values

FULL_KV = VariantKey(Variant.FULL, kv=True)


def _caches_of_other_inputs(b):
    """Caches from a full step on other inputs (another timestep and noise), as a real run has."""
    other = b.make_inputs(seed=7, timestep=0.3 if b.family == "flux" else 300.0)
    leaves = [other[name] for name in b.inputs]  # same keys, same order as the capture
    tensors = [t for t in leaves if isinstance(t, torch.Tensor)]
    with torch.no_grad():
        _, caches = b.variants.get(FULL_KV)(tensors, {})
        _, previous = b.variants.get(FULL_KV)(b.builder.args, {})
    caches["delta_prev.hidden_states"] = previous["delta.hidden_states"]
    return caches


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_token_with_every_image_token_equals_full(built_models, family):
    b = built_models(family)
    n = b.variants.image_tokens
    caches = _caches_of_other_inputs(b)
    with torch.no_grad():
        want, _ = b.variants.get(FULL_KV)(b.builder.args, {})
        got, _ = b.variants.get(VariantKey(Variant.TOKEN, tokens=n))(b.builder.args, caches)
        half, _ = b.variants.get(VariantKey(Variant.TOKEN, tokens=n // 2))(b.builder.args, caches)
    assert rel_err(got[0], want[0]) <= 1e-5
    assert rel_err(half[0], want[0]) > 1e-4  # half the tokens on stale caches is an approximation


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_token_step_runs_attention_once_per_attention_with_fewer_queries(built_models, family):
    b = built_models(family)
    caches = _caches_of_other_inputs(b)
    token = b.variants.get(VariantKey(Variant.TOKEN, tokens=4))
    full = b.variants.get(FULL_KV)
    assert count_attention(token, b.builder.args, caches) == count_attention(full, b.builder.args, {})


def test_each_sample_gets_its_own_selection(built_models):
    b = built_models("dit")
    key = VariantKey(Variant.TOKEN, tokens=4)
    b.variants.get(key)
    caches = _caches_of_other_inputs(b)
    change = torch.zeros_like(caches["delta.hidden_states"])
    change[0, [1, 5, 9, 13]] = 1.0   # sample 0 changed at these tokens
    change[1, [0, 2, 4, 6]] = 1.0    # sample 1 (e.g. the other CFG half) at these
    caches["delta_prev.hidden_states"] = caches["delta.hidden_states"] - change
    gm = b.builder.graph(key)
    index_node = next(n for n in gm.graph.nodes if n.meta.get(TOKEN_INDEX))
    values = record_values(gm, b.builder.args + [caches[n] for n in b.variants.get(key).cache_inputs],
                           {index_node.name})
    assert [sorted(row) for row in values[index_node.name].tolist()] == [[1, 5, 9, 13], [0, 2, 4, 6]]


def test_bad_token_buckets_name_the_allowed_range(built_models):
    b = built_models("dit")
    n = b.variants.image_tokens
    for tokens in (0, n + 1):
        with pytest.raises(ValueError, match=f"1..{n}"):
            b.variants.get(VariantKey(Variant.TOKEN, tokens=tokens))
    with pytest.raises(ValueError, match="token_ratio"):
        xs.XSlimConfig(token_ratio=0.0)
    opt = xs.optimize(b.model, xs.XSlimConfig(schedule=["full", "full", "token"], token_ratio=0.01))
    with pytest.raises(xs.ConfigError, match="allowed range is 1..16"):
        for t in (900.0, 800.0, 700.0):
            opt(**b.make_inputs(timestep=t))


def test_unsupported_attention_names_the_op_and_other_variants_still_work():
    from diffusers.models.attention_processor import AttnProcessor

    from tests.zoo import dit_inputs, make_dit

    model = make_dit()
    for module in model.modules():  # attention as baddbmm/softmax/bmm, not SDPA
        if hasattr(module, "set_processor"):
            module.set_processor(AttnProcessor())
    opt = xs.optimize(model, xs.XSlimConfig(schedule=["full", "skip", "block"], always_compute_blocks=1))
    for t in (900.0, 800.0, 700.0):
        opt(**dit_inputs(timestep=t))
    assert opt.trace.variants() == ["full", "skip", "block"]
    builder = next(iter(opt._variant_sets.values())).builder
    with pytest.raises(xs.UnsupportedModelError, match="baddbmm"):
        builder.token_plan
    # fail soft by default: the token step runs full, the trace names the op; strict raises
    tokens = xs.optimize(model, xs.XSlimConfig(schedule=["full", "full", "token"]))
    outs = [tokens(**dit_inputs(timestep=t)).sample for t in (900.0, 800.0, 700.0)]
    last = tokens.trace[-1]
    assert last.variant == "full" and "op baddbmm" in last.reason, last
    with torch.no_grad():
        assert torch.equal(outs[-1], model(**dit_inputs(timestep=700.0)).sample)
    strict = xs.optimize(model, xs.XSlimConfig(schedule=["full", "token"], strict=True))
    with pytest.raises(xs.UnsupportedModelError, match="op baddbmm"):
        strict(**dit_inputs())


def test_token_caches_in_bfloat16(built_models):
    from tests.zoo import dit_inputs

    b = built_models("dit")
    schedule = ["full", "full", "token", "block", "full"]
    runs = {}
    for dtype in (None, torch.bfloat16):
        opt = xs.optimize(b.model, xs.XSlimConfig(schedule=schedule, cache_dtype=dtype, always_compute_blocks=1))
        outs = [opt(**dit_inputs(timestep=t)).sample for t in (900.0, 800.0, 700.0, 600.0)]
        state = opt._states["default"]
        sizes = {n: t.dtype for n, t in state.caches.items()}
        runs[dtype] = (outs, opt.cache_bytes(), sizes)
    (outs32, bytes32, _), (outs16, bytes16, sizes16) = runs[None], runs[torch.bfloat16]
    assert all(d == torch.bfloat16 for n, d in sizes16.items() if n.startswith(("kv.", "residual.")))
    assert bytes16 < 0.75 * bytes32
    assert rel_err(outs16[2], outs32[2]) < 1e-2 and rel_err(outs16[3], outs32[3]) < 1e-2


@pytest.fixture(scope="module")
def reference():
    from benchmarks.reference.model import load_dit

    return load_dit()


def test_token_flops_follow_the_ratio_on_the_reference_model(reference):
    opt = xs.optimize(reference, xs.XSlimConfig(schedule=["full", "skip", "token"]))
    inputs = dict(hidden_states=torch.randn(4, 1, 32, 32), timestep=torch.full((4,), 500.0),
                  class_labels=torch.tensor([1, 2, 10, 10]))
    opt(**inputs)
    variants = next(iter(opt._variant_sets.values()))
    args = variants.builder.args
    full, skip = variants.get(FULL_KV), variants.get(VariantKey(Variant.SKIP))
    _, caches = full(args, {})
    caches["delta_prev.hidden_states"] = torch.zeros_like(caches["delta.hidden_states"])
    stack = count_flops(lambda: full(args, {})) - count_flops(lambda: skip(args, caches))
    for ratio in (0.25, 0.5):
        token = variants.get(VariantKey(Variant.TOKEN, tokens=round(ratio * 256)))
        share = (count_flops(lambda: token(args, caches)) - count_flops(lambda: skip(args, caches))) / stack
        assert share <= ratio + 0.03, (ratio, share)
        assert share >= ratio - 0.03  # the saving is real, not an artefact of counting


def test_token_error_is_below_skip_on_ddim_steps_of_the_reference_model(reference):
    """Steps 20 and 21 of a DDIM-50 run: full compute until then, then each approximation alone."""
    from benchmarks.reference.model import NULL_CLASS, sample_scheduler
    from benchmarks.reference.sampler import initial_noise

    labels = torch.tensor([0, 3, 5, 9])
    both = torch.cat([labels, torch.full_like(labels, NULL_CLASS)])
    scheduler = sample_scheduler()
    scheduler.set_timesteps(50)
    schedules = {"skip": ["full"] * 20 + ["skip", "skip"], "token": ["full"] * 20 + ["token", "token"]}
    opts = {name: xs.optimize(reference, xs.XSlimConfig(schedule=s, token_ratio=0.5))
            for name, s in schedules.items()}
    x = initial_noise([1, 2, 3, 4])
    errors = {name: [] for name in opts}
    with opts["skip"].generation(50), opts["token"].generation(50):
        for i, t in enumerate(scheduler.timesteps[:22]):
            model_in = torch.cat([x, x])
            timestep = t.expand(len(model_in))
            with torch.no_grad():
                want = reference(model_in, timestep=timestep, class_labels=both).sample
            for name, opt in opts.items():
                got = opt(model_in, timestep=timestep, class_labels=both).sample
                if i >= 20:
                    errors[name].append(rel_err(got, want))
            eps_cond, eps_uncond = want.chunk(2)
            x = scheduler.step(eps_uncond + 3.0 * (eps_cond - eps_uncond), t, x).prev_sample
    assert opts["token"].trace.variants()[-2:] == ["token", "token"]
    print(f"relative error at steps 20, 21: skip {errors['skip']}, token (k = N/2) {errors['token']}")
    for skip_error, token_error in zip(errors["skip"], errors["token"]):
        assert token_error < skip_error
        assert token_error > 0


def test_a_second_token_step_ranks_the_rows_the_first_did_not_run(built_models):
    b = built_models("flux")
    n = b.variants.image_tokens
    caches = _caches_of_other_inputs(b)
    token = b.variants.get(VariantKey(Variant.TOKEN, tokens=n // 2))
    score = lambda c: (c["delta.hidden_states"] - c["delta_prev.hidden_states"]).abs().mean(-1)  # noqa: E731
    before = score(caches)
    kept = before.topk(n // 2, dim=1).indices
    with torch.no_grad():
        _, produced = token(b.builder.args, caches)
    after = score(produced)
    not_kept = torch.ones_like(before, dtype=torch.bool).scatter(1, kept, False)
    assert torch.allclose(after[not_kept], before[not_kept])  # their pending change still counts
    assert (after[not_kept] > 0).all()


def test_blocks_reading_model_inputs_directly():
    """No embedder: the stream and a per-token table enter the blocks straight from the inputs."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(8, 8) for _ in range(4))

        def forward(self, h, pos):
            x = h + pos
            a = torch.nn.functional.scaled_dot_product_attention(self.q(x)[:, None], self.k(x)[:, None],
                                                                 self.v(x)[:, None])
            return h + self.o(a[:, 0])

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Block() for _ in range(3)])

        def forward(self, hidden_states, pos):
            for block in self.blocks:
                hidden_states = block(hidden_states, pos)
            return (hidden_states * 2,)

    torch.manual_seed(0)
    model = Model().eval()
    opt = xs.optimize(model, xs.XSlimConfig(schedule=["full", "full", "token", "skip", "block"], block_reuse=[1],
                                            token_ratio=1.0))
    pos = torch.randn(1, 10, 8)
    for i in range(5):
        x = torch.randn(2, 10, 8, generator=torch.Generator().manual_seed(i))
        out = opt(x, pos)[0]
        if i == 2:  # every token kept: exactly full compute
            with torch.no_grad():
                assert rel_err(out, model(x, pos)[0]) <= 1e-5
    assert opt.trace.variants() == ["full", "full", "token", "skip", "block"]
