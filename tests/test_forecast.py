"""Forecast skips: the estimators' weights, the compiled forecast graphs (parity, structure, one graph
for every distance), the runtime's residual history and what it costs in cache memory."""
import pytest
import torch

import xslim_compile as xs
from tests.conftest import FAMILY_NAMES
from tests.helpers import count_attention, rel_err
from tests.zoo import dit_inputs, make_dit
from xslim_compile.forecast import ESTIMATORS, WEIGHTS, forecast_weights, get_estimator
from xslim_compile.passes.graph_edit import BLOCK
from xslim_compile.plan import Variant
from xslim_compile.runtime.variant_set import VariantKey

HISTORY = (7, 4, 2)   # uneven spacing on purpose: distances are the run's step indices


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_weights_sum_to_one_and_reproduce_polynomials_of_their_order(name):
    estimator = get_estimator(name)
    for step in (8, 11, 20):
        w = forecast_weights(estimator, step, HISTORY)
        assert len(w) == estimator.order and abs(sum(w) - 1) < 1e-12
        for degree in range(estimator.order):
            values = [h ** degree for h in HISTORY[:estimator.order]]
            exact = step ** degree
            got = sum(a * b for a, b in zip(w, values))
            if estimator.damping == 1.0:
                assert abs(got - exact) <= 1e-9 * max(1, abs(exact))
    assert forecast_weights(get_estimator("reuse"), 30, HISTORY) == (1.0,)
    # damped keeps half of taylor1's change: halfway between reuse and the straight line
    line = forecast_weights(get_estimator("taylor1"), 10, HISTORY)
    assert forecast_weights(get_estimator("damped"), 10, HISTORY) == pytest.approx(((line[0] + 1) / 2, line[1] / 2))


def test_short_history_lowers_the_order_and_bad_names_are_refused():
    assert len(forecast_weights(get_estimator("taylor2"), 9, (7, 4))) == 2
    with pytest.raises(xs.ConfigError, match="expected one of 'reuse'"):
        xs.XSlimConfig(estimator="taylor9")
    with pytest.raises(xs.ConfigError, match="unknown estimator"):
        xs.PlanEntry(0.5, Variant.FULL, estimator="linear")


def _linear_history(caches: dict, order: int, step: int, slope_seed: int = 3):
    """Residual history Δ_h = A + h·B (a straight line in the step index): the fed caches and the exact Δ_step."""
    fed, exact = {}, {}
    for name, a in caches.items():
        if not name.startswith("delta."):
            continue
        slot = name[len("delta."):]
        b = torch.randn(a.shape, generator=torch.Generator().manual_seed(slope_seed), dtype=a.dtype) * a.std() / 10
        for prefix, h in zip(("delta", "delta_prev", "delta_prev2"), HISTORY[:order]):
            fed[f"{prefix}.{slot}"] = a + h * b
        exact[name] = a + step * b
    return fed, exact


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("name", ["taylor1", "taylor2"])
def test_a_straight_residual_line_is_forecast_exactly_and_no_stack_op_runs(built_models, family, name):
    b = built_models(family)
    estimator = get_estimator(name)
    key = VariantKey(Variant.SKIP, history=estimator.order)
    gm = b.builder.graph(key)
    assert not [n for n in gm.graph.nodes if BLOCK in n.meta]
    assert WEIGHTS in gm.meta["xslim_cache_inputs"]
    with torch.no_grad():
        _, caches = b.variants.get(VariantKey(Variant.FULL))(b.builder.args, {})
        fed, exact = _linear_history(caches, estimator.order, step=12)
        fed[WEIGHTS] = torch.tensor(forecast_weights(estimator, 12, HISTORY))
        compiled = b.variants.get(key)
        got, _ = compiled(b.builder.args, fed)
        want, _ = b.variants.get(VariantKey(Variant.SKIP))(b.builder.args, exact)
        assert count_attention(compiled, b.builder.args, fed) == 0
    assert rel_err(got[0], want[0]) <= 1e-5


def test_token_rows_not_recomputed_take_the_forecast(built_models):
    b = built_models("dit")
    kept = b.variants.image_tokens // 2
    with torch.no_grad():
        _, caches = b.variants.get(VariantKey(Variant.FULL, kv=True))(b.builder.args, {})
        fed, exact = _linear_history(caches, 2, step=12)
        fed.update({k: v for k, v in caches.items() if k.startswith("kv.")})
        fed[WEIGHTS] = torch.tensor(forecast_weights(get_estimator("taylor1"), 12, HISTORY))
        got, produced = b.variants.get(VariantKey(Variant.TOKEN, tokens=kept, history=2))(b.builder.args, fed)
        # the reuse token graph fed the exact Δ_12, with a delta_prev giving the same token scores
        reuse = dict(fed)
        for name, value in exact.items():
            slot = name[len("delta."):]
            reuse[name] = value
            reuse[f"delta_prev.{slot}"] = value - (fed[name] - fed[f"delta_prev.{slot}"])
        want, _ = b.variants.get(VariantKey(Variant.TOKEN, tokens=kept))(b.builder.args, reuse)
    assert rel_err(got[0], want[0]) <= 1e-5
    assert not any(name.startswith("delta_prev.") for name in produced)  # the runtime rolls the history


def _trace_generation(opt, steps):
    outs = []
    with opt.generation(num_steps=len(steps)):
        for t in steps:
            outs.append(opt(**dit_inputs(timestep=t)).sample)
    return outs


def test_runtime_forecast_equals_the_extrapolated_residual_and_builds_one_graph():
    model = make_dit()
    schedule = ["full", "full", "skip", "skip", "full", "skip"]
    timesteps = [900, 800, 700, 600, 500, 400]
    opt = xs.optimize(model, xs.XSlimConfig(schedule=schedule, estimator="taylor1", always_compute_blocks=1))
    deltas = {}
    opt.observers.append(lambda info, key, state, latent: deltas.__setitem__(info.step, state.caches["delta.hidden_states"]))
    outs = _trace_generation(opt, timesteps)
    assert [r.detail for r in opt.trace][2:] == ["taylor1 from 1,0", "taylor1 from 1,0", "", "taylor1 from 4,1"]
    variants = next(iter(opt._variant_sets.values()))
    forecasts = [k for k in variants.built() if k.variant is Variant.SKIP]
    assert forecasts == [VariantKey(Variant.SKIP, history=2)]  # every distance through one graph
    # step 3 by hand: Δ̂_3 = Δ_1 + 2·(Δ_1 − Δ_0), through the reuse skip graph
    skip = variants.get(VariantKey(Variant.SKIP))
    tensors = variants.tensors(list(dit_inputs(timestep=600).values()))
    with torch.no_grad():
        want, _ = skip(tensors, {"delta.hidden_states": 3 * deltas[1] - 2 * deltas[0]})
    assert rel_err(outs[3], want[0]) <= 1e-5


def test_history_memory_is_counted_and_taylor2_keeps_one_residual_more():
    model = make_dit()
    sizes = {}
    for name in ("reuse", "taylor2"):
        opt = xs.optimize(model, xs.XSlimConfig(schedule=["full"] * 4 + ["skip"], estimator=name))
        seen = []
        opt.observers.append(lambda info, key, state, latent: seen.append(opt.cache_bytes()))
        _trace_generation(opt, [900, 800, 700, 600, 500])
        sizes[name] = max(seen)
        assert opt.cache_bytes() == 0  # freed after the last step
    delta_bytes = 2 * 16 * 16 * 4  # [batch 2, 16 tokens, width 16] float32
    assert sizes["taylor2"] - sizes["reuse"] == delta_bytes
