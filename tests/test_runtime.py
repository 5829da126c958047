"""The optimized module as a user sees it: stepping, generations, branches, guards, bad input."""
import pytest
import torch
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from torch import nn

import xslim_compile as xs
from tests.helpers import rel_err
from tests.zoo import dit_inputs, make_dit
from xslim_compile.runtime import host

TIMESTEPS = [900, 800, 700, 600, 500, 400]


@pytest.fixture(scope="module")
def dit():
    return make_dit()


def _optimize(model, **settings):
    settings.setdefault("always_compute_blocks", 1)
    return xs.optimize(model, xs.XSlimConfig(**settings))


def _generate(opt, timesteps=TIMESTEPS, seed=1, **call):
    return [opt(**dit_inputs(seed=seed, timestep=t), **call) for t in timesteps]


def test_trace_follows_the_schedule_and_runs_full_past_its_end(dit):
    opt = _optimize(dit, schedule=["full", "skip", "block", "skip"])
    _generate(opt)
    assert [r.step for r in opt.trace] == list(range(6))
    assert opt.trace.variants() == ["full", "skip", "block", "skip", "full", "full"]
    assert "past the schedule" in opt.trace[-1].reason
    assert "step" in opt.trace.table() and "reason" in opt.trace.table()


def test_timestep_going_up_starts_a_new_generation(dit):
    opt = _optimize(dit, schedule=["full", "skip", "skip", "skip"])
    _generate(opt, TIMESTEPS[:3])
    _generate(opt, TIMESTEPS[:2])
    assert [r.step for r in opt.trace] == [0, 1, 2, 0, 1]
    assert opt.trace.variants() == ["full", "skip", "skip", "full", "skip"]


def test_skip_error_is_bounded_and_full_steps_are_exact(dit):
    opt = _optimize(dit, schedule=["full", "skip", "full"])
    outs = _generate(opt, TIMESTEPS[:3])
    with torch.no_grad():
        refs = [dit(**dit_inputs(timestep=t)) for t in TIMESTEPS[:3]]
    assert rel_err(outs[0].sample, refs[0].sample) <= 1e-5
    assert rel_err(outs[2].sample, refs[2].sample) <= 1e-5
    assert 0 < rel_err(outs[1].sample, refs[1].sample) < 0.2  # a real approximation, not a copy


def test_generation_context_needs_no_host_read(dit):
    opt = _optimize(dit, schedule=["full", "skip", "block", "skip"], check_finite=False)
    _generate(opt, TIMESTEPS[:1])  # capture outside the count
    before = host.reads
    with opt.generation(num_steps=4):
        _generate(opt, TIMESTEPS[:4])
    assert host.reads - before == 1  # the automatic block rule reads the residual sizes once
    opt2 = _optimize(dit, schedule=["full", "skip", "skip", "full"], check_finite=False)
    _generate(opt2, TIMESTEPS[:1])
    before = host.reads
    with opt2.generation(num_steps=4):
        _generate(opt2, TIMESTEPS[:4])
    assert host.reads == before
    assert opt2.cache_bytes() == 0  # freed at the end of the generation


def test_default_costs_at_most_one_host_read_per_call(dit):
    opt = _optimize(dit, schedule=["full", "skip", "block", "skip", "full", "block"])
    _generate(opt, TIMESTEPS[:1])
    before = host.reads
    _generate(opt)
    assert host.reads - before <= len(TIMESTEPS)


def test_cache_context_keeps_one_cache_per_branch(dit):
    opt = _optimize(dit, schedule=["full", "skip"])
    cond, uncond = dit_inputs(seed=1), dit_inputs(seed=2)
    for t in TIMESTEPS[:2]:
        for name, inputs in (("cond", cond), ("uncond", uncond)):
            with opt.cache_context(name):
                out = opt(**dict(inputs, timestep=torch.full((2,), float(t))))
    solo = _optimize(dit, schedule=["full", "skip"])
    for t in TIMESTEPS[:2]:
        want = solo(**dict(uncond, timestep=torch.full((2,), float(t))))
    assert [(r.branch, r.variant) for r in opt.trace] == [
        ("cond", "full"), ("uncond", "full"), ("cond", "skip"), ("uncond", "skip")]
    assert rel_err(out.sample, want.sample) <= 1e-6


def test_cache_context_step_index_fixes_the_position(dit):
    opt = _optimize(dit, schedule=["full", "skip", "skip"], check_finite=False)
    _generate(opt, TIMESTEPS[:1])
    before = host.reads
    for i, t in enumerate(TIMESTEPS[:3]):
        with opt.cache_context("cond", step_index=i, num_inference_steps=3):
            opt(**dit_inputs(timestep=t))
    assert host.reads == before
    assert [r.step for r in opt.trace][-3:] == [0, 1, 2]
    with pytest.raises(TypeError, match="unexpected"):
        with opt.cache_context("cond", stepindex=1):
            pass


def test_step_index_zero_starts_a_new_generation_that_keeps_its_caches(dit):
    # no num_inference_steps: the first generation is never closed, step_index 0 starts the next one
    opt = _optimize(dit, schedule=["full", "skip", "skip"], check_finite=False)
    for _ in range(2):
        for i, t in enumerate(TIMESTEPS[:3]):
            with opt.cache_context("cond", step_index=i):
                opt(**dit_inputs(timestep=t))
    assert opt.trace.variants() == ["full", "skip", "skip"] * 2


def test_return_dict_is_honoured(dit):
    opt = _optimize(dit)
    assert isinstance(opt(**dit_inputs()), Transformer2DModelOutput)
    out = opt(**dit_inputs(), return_dict=False)
    assert isinstance(out, tuple) and len(out) == 1
    positional = opt(dit_inputs()["hidden_states"], timestep=dit_inputs()["timestep"],
                     class_labels=dit_inputs()["class_labels"])
    assert rel_err(positional.sample, out[0]) <= 1e-6


def test_bad_kwargs_raise_the_models_own_type_error(dit):
    opt = _optimize(dit)
    inputs = dit_inputs()
    for bad in ({"hidden_states": inputs["hidden_states"], "no_such_input": 1}, {}):
        with pytest.raises(TypeError) as ours:
            opt(**bad)
        with pytest.raises(TypeError) as theirs:
            dit(**bad)
        assert str(ours.value) == str(theirs.value)
    # and the next valid call is correct
    with torch.no_grad():
        assert rel_err(opt(**inputs).sample, dit(**inputs).sample) <= 1e-5


def test_non_finite_cache_makes_the_step_full():
    model = make_dit()
    opt = _optimize(model, schedule=["full", "skip", "skip"])
    _generate(opt, TIMESTEPS[:1])  # capture with finite weights
    bias = model.transformer_blocks[2].ff.net[2].bias
    saved = bias.detach().clone()
    with torch.no_grad():  # a transient fault: one full step computes NaN, and caches it
        bias[0] = float("nan")
    with opt.generation(num_steps=3):
        opt(**dit_inputs(timestep=TIMESTEPS[0]))
        with torch.no_grad():
            bias.copy_(saved)
        out = opt(**dit_inputs(timestep=TIMESTEPS[1]))
        assert opt.trace[-1].variant == "full" and "NaN" in opt.trace[-1].reason
        assert torch.isfinite(out.sample).all()
        opt(**dit_inputs(timestep=TIMESTEPS[2]))
        assert opt.trace[-1].variant == "skip"  # the full step refreshed the cache


def test_trace_is_bounded(dit):
    opt = _optimize(dit, trace_limit=3)
    _generate(opt)
    assert len(opt.trace) == 3 and opt.trace[-1].call == len(TIMESTEPS)


def test_new_signature_captures_again_and_starts_a_generation(dit):
    opt = _optimize(dit, schedule=["full", "skip", "skip"])
    _generate(opt, TIMESTEPS[:2])
    bigger = dict(dit_inputs(batch=3, timestep=TIMESTEPS[2]))
    with torch.no_grad():
        want = dit(**bigger).sample
    assert rel_err(opt(**bigger).sample, want) <= 1e-5
    assert len(opt._variant_sets) == 2
    assert opt.trace[-1].step == 0 and opt.trace[-1].variant == "full"


def test_structure_changed_after_optimize_is_recaptured():
    model = make_dit()
    opt = _optimize(model, schedule=["full", "skip"])
    _generate(opt, TIMESTEPS[:2])
    # a LoRA-like change: a module replaced by another (new parameters the old graph never saw)
    old = model.transformer_blocks[1].ff.net[2]
    new = nn.Linear(old.in_features, old.out_features)
    with torch.no_grad():
        new.weight.copy_(old.weight * 0.5)
        new.bias.copy_(old.bias)
    model.transformer_blocks[1].ff.net[2] = new
    outs = _generate(opt, TIMESTEPS[:1])
    with torch.no_grad():
        want = model(**dit_inputs(timestep=TIMESTEPS[0])).sample
    assert rel_err(outs[0].sample, want) <= 1e-5


def test_model_with_a_cache_hook_is_refused():
    from diffusers.hooks import FirstBlockCacheConfig, apply_first_block_cache

    model = make_dit()
    apply_first_block_cache(model, FirstBlockCacheConfig(threshold=0.1))
    with pytest.raises(xs.CacheHookError, match="cache"):
        xs.optimize(model)


def test_models_without_a_block_chain_are_unsupported():
    with pytest.raises(xs.UnsupportedModelError, match="ModuleList"):
        xs.optimize(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)))

    class Parallel(nn.Module):  # sibling blocks that do not feed each other
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

        def forward(self, x):
            return sum(block(x) for block in self.blocks)

    opt = xs.optimize(Parallel())
    with pytest.raises(xs.UnsupportedModelError, match="each consuming the previous one"):
        opt(torch.randn(2, 4))
    assert issubclass(xs.UnsupportedModelError, xs.XSlimError)


def test_capture_failure_is_a_capture_error_and_the_next_call_works(dit):
    class Flaky(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.fail = inner, True

        def forward(self, hidden_states, timestep=None, class_labels=None, return_dict=True):
            if self.fail:
                raise RuntimeError("boom")
            return self.inner(hidden_states, timestep=timestep, class_labels=class_labels, return_dict=return_dict)

    flaky = Flaky(dit)
    opt = xs.optimize(flaky)
    with pytest.raises(xs.CaptureError, match="Flaky"):
        opt(**dit_inputs())
    flaky.fail = False
    with torch.no_grad():
        assert rel_err(opt(**dit_inputs()).sample, dit(**dit_inputs()).sample) <= 1e-5


def test_block_reuse_past_the_last_block_is_a_config_error(dit):
    opt = _optimize(dit, schedule=["full", "block"], block_reuse=[2, 9])
    with pytest.raises(xs.ConfigError, match="block_reuse"):
        opt(**dit_inputs())


def test_explicit_and_automatic_block_reuse(dit):
    opt = _optimize(dit, schedule=["full", "block"], block_reuse=[2, 3])
    _generate(opt, TIMESTEPS[:2])
    assert opt.trace[-1].variant == "block" and opt.trace[-1].detail == "2,3"
    auto = _optimize(dit, schedule=["full", "block"], always_compute_blocks=2)
    _generate(auto, TIMESTEPS[:2])
    chosen = [int(i) for i in auto.trace[-1].detail.split(",") if i]
    assert auto.trace[-1].variant == "block" and all(i >= 2 for i in chosen)


def test_behaves_like_the_wrapped_model(dit):
    opt = _optimize(dit)
    assert opt.config is dit.config and opt.dtype == dit.dtype and opt.device == dit.device
    assert opt.transformer_blocks is dit.transformer_blocks
    model = make_dit()
    opt = _optimize(model)
    opt(**dit_inputs())
    opt.to(torch.float64)
    assert model.dtype == torch.float64 and not opt._variant_sets
    inputs = {k: v.double() if v.is_floating_point() else v for k, v in dit_inputs().items()}
    with torch.no_grad():
        assert rel_err(opt(**inputs).sample, model(**inputs).sample) <= 1e-10


def test_first_block_caching_accepts_or_redoes_the_step(dit):
    from tests.helpers import count_attention
    from xslim_compile.runtime.controller import FirstBlockController

    accepting = xs.optimize(dit, xs.XSlimConfig(), controller=FirstBlockController(1e9, num_blocks=4))
    _generate(accepting, TIMESTEPS[:2])
    ran = count_attention(accepting, **dit_inputs(timestep=TIMESTEPS[2]))
    assert accepting.trace.variants() == ["full", "block", "block"]
    assert ran == 1  # only the first block's attention ran
    assert "first_block_change" in accepting.trace[-1].signals
    redoing = xs.optimize(dit, xs.XSlimConfig(), controller=FirstBlockController(0.0, num_blocks=4))
    outs = _generate(redoing, TIMESTEPS[:3])
    assert redoing.trace.variants() == ["full", "full", "full"] and ">= 0.0: full" in redoing.trace[-1].reason
    with torch.no_grad():
        assert rel_err(outs[2].sample, dit(**dit_inputs(timestep=TIMESTEPS[2])).sample) <= 1e-5


def test_cfg_branches_of_different_shapes_keep_their_caches():
    from tests.zoo import make_pixart, pixart_inputs

    model = make_pixart()
    opt = xs.optimize(model, xs.XSlimConfig(schedule=["full", "skip", "skip", "full"]))
    short = {k: v[:, :4] if k == "encoder_hidden_states" else v for k, v in pixart_inputs(seed=3).items()}
    with opt.generation(num_steps=4):
        for t in TIMESTEPS[:4]:
            for name, inputs in (("cond", pixart_inputs()), ("uncond", short)):
                with opt.cache_context(name):
                    opt(**dict(inputs, timestep=torch.full((2,), float(t))))
    assert [(r.branch, r.step, r.variant) for r in opt.trace][-2:] == [("cond", 3, "full"), ("uncond", 3, "full")]
    assert [r.variant for r in opt.trace if r.branch == "uncond"] == ["full", "skip", "skip", "full"]
