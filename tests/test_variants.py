"""Variants of all four families: parity, structure (what actually runs), shared weights, verification."""
import pytest
import torch

from tests.conftest import FAMILY_NAMES
from tests.helpers import count_attention, rel_err
from xslim_compile.errors import VerificationError
from xslim_compile.passes.graph_edit import BLOCK, REGION
from xslim_compile.plan import Variant
from xslim_compile.runtime.variant_set import VariantKey

FULL = VariantKey(Variant.FULL)
FULL_RES = VariantKey(Variant.FULL, residuals=True)
SKIP = VariantKey(Variant.SKIP)


def _run(built, key, caches=None):
    return built.variants.get(key)(built.builder.args, caches or {})


def _count(built, key, caches=None) -> int:
    compiled = built.variants.get(key)  # built (and verified) outside the count
    return count_attention(compiled, built.builder.args, caches or {})


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_full_matches_eager(built_models, family):
    b = built_models(family)
    with torch.no_grad():
        want = b.model(**b.inputs).sample
        got, caches = _run(b, FULL)
    assert rel_err(got[0], want) <= 1e-5
    assert set(caches) == {f"delta.{b.builder.stack.slots[s]}" for s in b.builder.stack.read_slots}


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_skip_runs_no_op_of_the_stack(built_models, family):
    b = built_models(family)
    gm = b.builder.graph(SKIP)
    assert not [n for n in gm.graph.nodes if BLOCK in n.meta]
    _, caches = _run(b, FULL)
    with torch.no_grad():
        ran = _count(b, SKIP, caches)
        full_ran = _count(b, FULL)
    assert ran == 0 and full_ran >= b.builder.stack.num_blocks


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_skip_fed_the_same_delta_reproduces_full(built_models, family):
    b = built_models(family)
    with torch.no_grad():
        want, caches = _run(b, FULL)
        got, _ = _run(b, SKIP, caches)
    assert rel_err(got[0], want[0]) <= 1e-5


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_block_runs_exactly_the_blocks_not_reused(built_models, family):
    b = built_models(family)
    L = b.builder.stack.num_blocks
    with torch.no_grad():
        per_block = _count(b, FULL) // L
        _, caches = _run(b, FULL_RES)
        for reuse in [(1,), (1, L - 1), tuple(range(1, L))]:
            key = VariantKey(Variant.BLOCK, reuse=reuse)
            ran = _count(b, key, caches)
            assert ran == (L - len(reuse)) * per_block, (reuse, ran)
            assert b.variants.get(key).cache_inputs == tuple(
                f"residual.{i}.{b.builder.stack.slots[s]}" for i in reuse
                for s, o in enumerate(b.builder.stack.blocks[i].outputs) if o is not None)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_block_with_residuals_of_the_same_inputs_reproduces_full(built_models, family):
    b = built_models(family)
    L = b.builder.stack.num_blocks
    with torch.no_grad():
        want, caches = _run(b, FULL_RES)
        nothing_reused, _ = _run(b, VariantKey(Variant.BLOCK, reuse=()))
        all_reused, _ = _run(b, VariantKey(Variant.BLOCK, reuse=tuple(range(L))), caches)
    assert rel_err(nothing_reused[0], want[0]) <= 1e-5
    assert rel_err(all_reused[0], want[0]) <= 1e-5


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_variants_share_the_model_weights(built_models, family):
    b = built_models(family)
    pointers = {name: p.data_ptr() for name, p in b.model.named_parameters()}
    keys = [FULL, FULL_RES, SKIP, VariantKey(Variant.BLOCK, reuse=(1,))]
    for key in keys:
        gm = b.builder.graph(key)
        params = dict(gm.named_parameters())
        assert params, key
        for name, p in params.items():
            assert p.data_ptr() == pointers[name], (key, name)


def test_stack_structure_of_each_family(built_models):
    dit, flux, sd3 = built_models("dit"), built_models("flux"), built_models("sd3")
    assert dit.builder.stack.slots == ("hidden_states",)
    assert dit.builder.stack.num_blocks == 4
    # DiT calls transformer_blocks[0].norm1.emb again after the loop: that call is epilogue, not block 0
    epilogue = [n for n in dit.builder.base.graph.nodes
                if n.op == "call_function" and "embedding" in str(n.target) and BLOCK not in n.meta]
    assert epilogue, "the post-loop conditioning embedding must stay outside the stack"
    assert {n.meta[REGION] for n in epilogue} == {"epilogue"}
    regions = {n.meta.get(REGION) for n in dit.builder.base.graph.nodes if n.op == "call_function"}
    assert regions == {"prologue", "stack", "epilogue"}
    patch_embed = next(n for n in dit.builder.base.graph.nodes if "conv2d" in str(n.target))
    assert patch_embed.meta[REGION] == "prologue"
    assert flux.builder.stack.chain_paths == ("transformer_blocks", "single_transformer_blocks")
    assert flux.builder.stack.chain_starts() == (0, 2)
    assert set(flux.builder.stack.slots) == {"hidden_states", "encoder_hidden_states"}
    # SD3's last block is context_pre_only: it returns no encoder stream
    last = sd3.builder.stack.blocks[-1]
    assert last.outputs[sd3.builder.stack.slots.index("encoder_hidden_states")] is None


def test_verification_names_the_first_divergent_node(built_models):
    b = built_models("dit")
    builder = b.builder
    key = VariantKey(Variant.BLOCK, reuse=(2,))
    gm = builder.graph(key)
    # an add inside block 3 turned into a sub: a wrong graph, with the culprit keeping its name
    victim = next(n for n in gm.graph.nodes if n.meta.get(BLOCK) == 3 and n.target is torch.ops.aten.add.Tensor)
    victim.target = torch.ops.aten.sub.Tensor
    gm.recompile()
    try:
        with pytest.raises(VerificationError, match=f"first divergent node: {victim.name} "):
            builder.build(key)
    finally:
        del builder._graphs[key]


def test_a_capture_is_reused_under_another_config(built_models, monkeypatch):
    """build_variant_set(builder=b.with_config(c)): no second capture; graphs that depend on the
    config (the cache dtype) are rewritten again, and the variants follow the new config."""
    import xslim_compile as xs
    from xslim_compile import build
    from xslim_compile.errors import ConfigError
    from tests.zoo import FAMILIES

    b = built_models("dit")
    monkeypatch.setattr(build, "capture", lambda *a, **k: pytest.fail("captured again"))
    config = xs.XSlimConfig(schedule=["full", "block"], block_reuse=[1], cache_dtype=torch.float16)
    builder = b.builder.with_config(config)
    assert builder.captured is b.builder.captured and builder._graphs is not b.builder._graphs
    variants = build.build_variant_set(b.model, b.inputs, b.variants.signature, config, builder)
    full = variants.get(FULL_RES)
    _, caches = full(builder.args, {})
    assert caches and all(t.dtype == torch.float16 for name, t in caches.items() if name.startswith("residual."))
    got, _ = variants.get(VariantKey(Variant.BLOCK, reuse=(1,)))(builder.args, caches)
    want, _ = b.variants.get(FULL)(b.builder.args, {})
    assert rel_err(got[0], want[0]) <= 1e-2   # exact but for the fp16 caches
    other = FAMILIES["dit"][0]()
    with pytest.raises(ConfigError, match="another"):
        build.build_variant_set(other, b.inputs, b.variants.signature, config, builder)
