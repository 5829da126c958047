"""The README's Guarantees, one test each: generation boundaries and step counts from the pipeline's
scheduler, plans at any step count, changes that recapture, .to(), fail soft, errors, threads."""
import threading

import numpy as np
import pytest
import torch

import xslim_compile as xs
from tests.helpers import Halved, rel_err
from tests.test_pipelines import _embeds, _vae, dit_call, dit_pipe, flux_pipe, sd3_pipe
from tests.zoo import dit_inputs, make_dit, make_pixart, make_sd3, sd3_inputs
from xslim_compile.plan import PlanEntry, Variant

F = Variant.FULL


def small_plan(**source) -> xs.Plan:
    """A 50-step plan: full at t/T 0.3 and 0.6 (forecast spans after them), skips elsewhere."""
    entries = (PlanEntry(0.0, F), PlanEntry(0.3, F, estimator="taylor1"), PlanEntry(0.6, F, estimator="reuse"))
    return xs.Plan(0.1, 0.2, entries=entries, first_full=2, last_full=True, source={"num_steps": 50, **source})


def branches_of(trace, records=None) -> dict:
    out = {}
    for r in records if records is not None else trace:
        out.setdefault(r.branch, []).append((r.step, r.variant))
    return out


def _kwargs(steps, **guidance):
    prompt, pooled = _embeds(seed=1)
    negative, negative_pooled = _embeds(seed=2)
    return dict(prompt_embeds=prompt, pooled_prompt_embeds=pooled, negative_prompt_embeds=negative,
                negative_pooled_prompt_embeds=negative_pooled, height=8, width=8, num_inference_steps=steps,
                generator=torch.Generator().manual_seed(0), output_type="np", **guidance)


def flux_kwargs(steps):
    return _kwargs(steps, true_cfg_scale=2.0)


def sd3_kwargs(steps):
    return _kwargs(steps, guidance_scale=3.0)


def pixart_pipe():
    from diffusers import DPMSolverMultistepScheduler, PixArtAlphaPipeline

    return PixArtAlphaPipeline(tokenizer=None, text_encoder=None, vae=_vae(), transformer=make_pixart(),
                               scheduler=DPMSolverMultistepScheduler())


def pixart_call(pipe, steps):
    g = torch.Generator().manual_seed(1)
    embeds, negative = torch.randn(1, 6, 32, generator=g), torch.randn(1, 6, 32, generator=g)
    mask = torch.ones(1, 6)
    return pipe(prompt_embeds=embeds, prompt_attention_mask=mask, negative_prompt=None, negative_prompt_embeds=negative,
                negative_prompt_attention_mask=mask, guidance_scale=2.0, num_inference_steps=steps, height=8,
                width=8, generator=torch.Generator().manual_seed(0), output_type="np",
                use_resolution_binning=False).images


PIPELINES = {"dit": (dit_pipe, dit_call), "pixart": (pixart_pipe, pixart_call),
             "sd3": (sd3_pipe, lambda pipe, steps: pipe(**sd3_kwargs(steps)).images),
             "flux": (flux_pipe, lambda pipe, steps: pipe(**flux_kwargs(steps)).images)}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_the_pipeline_form_follows_the_plan_at_any_step_count_and_frees_its_caches(name):
    make, call = PIPELINES[name]
    pipe = make()
    plan = small_plan()
    opt = xs.optimize(pipe, xs.XSlimConfig(plan=plan))
    assert pipe.transformer is opt
    for steps in (20, 28, 50):
        before = len(opt.trace)
        call(pipe, steps)
        per_branch = branches_of(opt.trace, list(opt.trace)[before:])
        for branch, records in per_branch.items():
            assert [s for s, _ in records] == list(range(steps)), branch
            assert [v for _, v in records] == plan.variants(steps), (branch, steps)
        assert opt.cache_bytes() == 0  # freed after the last step: the step count is known


def _abort_after(step):
    def callback(pipe, i, t, kwargs):
        if i == step:
            pipe._interrupt = True
        return {}
    return callback


@pytest.mark.parametrize("name", ["flux", "sd3"])
def test_an_aborted_run_then_image_to_image_starts_fresh_at_the_right_position(name):
    from diffusers import FluxImg2ImgPipeline, StableDiffusion3Img2ImgPipeline

    make, kwargs, img2img = {"flux": (flux_pipe, flux_kwargs, FluxImg2ImgPipeline),
                             "sd3": (sd3_pipe, sd3_kwargs, StableDiffusion3Img2ImgPipeline)}[name]
    config = xs.XSlimConfig(plan=small_plan())
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    outputs = []
    for aborted_first in (True, False):
        pipe = make()
        opt = xs.optimize(pipe, config)
        if aborted_first:
            pipe(callback_on_step_end=_abort_after(2), **kwargs(20))
        second = img2img.from_pipe(pipe)
        assert second.transformer is opt
        before = len(opt.trace)
        outputs.append(second(image=image, strength=0.6, **kwargs(20)).images)
        records = list(opt.trace)[before:]
        begin = 20 - 12  # T − ⌈0.6·T⌉
        want = ["full"] + small_plan().variants(20)[begin + 1:]  # a generation's first call has no cache yet
        for branch, steps in branches_of(opt.trace, records).items():
            assert [s for s, _ in steps] == list(range(begin, 20)), branch
            assert [v for _, v in steps] == want, branch
        if name == "flux":  # true CFG without cache_context: the second call of a step has its own branch
            assert set(branches_of(opt.trace, records)) == {"default", "default#1"}
    assert np.array_equal(outputs[0], outputs[1])  # the aborted run left nothing behind


def test_the_module_form_needs_the_user_for_a_restart_below_the_last_timestep():
    model = make_dit()
    opt = xs.optimize(model, xs.XSlimConfig(schedule=["full", "skip", "skip", "skip"]))
    for t in (900, 800, 700):
        opt(**dit_inputs(timestep=t))
    opt.reset()  # what the README's Guarantees section asks for
    out = opt(**dit_inputs(seed=5, timestep=600))
    with torch.no_grad():
        assert rel_err(out.sample, model(**dit_inputs(seed=5, timestep=600)).sample) <= 1e-5
    assert opt.trace[-1].variant == "full" and opt.trace[-1].step == 0


def _full_matches(opt, model, seed=7) -> float:
    inputs = sd3_inputs if isinstance(model, type(make_sd3())) else dit_inputs
    with torch.no_grad():
        return rel_err(opt(**inputs(seed=seed)).sample, model(**inputs(seed=seed)).sample)


@pytest.mark.parametrize("change", ["processor", "fuse", "attribute", "adapter_scale"])
def test_changes_export_specialises_recapture(change):
    # SD3's class has the processor, fusion and adapter methods (DiT's has none of them)
    model = make_dit() if change == "attribute" else make_sd3()
    opt = xs.optimize(model)
    assert _full_matches(opt, model) <= 1e-5
    if change == "processor":
        opt.set_attn_processor({name: Halved(p) for name, p in model.attn_processors.items()})  # checked next call
    elif change == "fuse":
        opt.fuse_qkv_projections()
    elif change == "attribute":
        model.transformer_blocks[1].attn1.rescale_output_factor = 2.0  # on the model: seen at the next generation
        opt.reset()
    else:
        pytest.importorskip("peft")
        from peft import LoraConfig

        model.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_v"], init_lora_weights=False),
                          adapter_name="style")
        opt.reset()
        assert _full_matches(opt, model) <= 1e-5
        opt.set_adapters(["style"], weights=[0.3])
    assert _full_matches(opt, model) <= 1e-5


def test_a_no_op_to_keeps_the_captures_and_a_real_one_recaptures():
    model = make_dit()
    opt = xs.optimize(model)
    opt(**dit_inputs())
    variants = next(iter(opt._variant_sets.values()))
    opt.to("cpu")
    opt.to(torch.float32)
    assert next(iter(opt._variant_sets.values())) is variants
    opt.to(torch.float64)
    assert not opt._variant_sets
    inputs = {k: (v.double() if v.is_floating_point() else v) for k, v in dit_inputs().items()}
    with torch.no_grad():
        assert rel_err(opt(**inputs).sample, model(**inputs).sample) <= 1e-10


def test_a_variant_that_fails_to_build_runs_full_once_logged_and_strict_raises(monkeypatch, caplog):
    from xslim_compile.build import VariantBuilder

    original = VariantBuilder.build
    attempts = []

    def failing(self, key):
        if key.variant is Variant.BLOCK:
            attempts.append(key)
            raise xs.VerificationError("injected failure")
        return original(self, key)

    monkeypatch.setattr(VariantBuilder, "build", failing)
    model = make_dit()
    schedule = ["full", "block", "skip", "block"]
    opt = xs.optimize(model, xs.XSlimConfig(schedule=schedule, block_reuse=[2, 3]))
    with opt.generation(num_steps=4):
        outs = [opt(**dit_inputs(timestep=t)).sample for t in (900, 800, 700, 600)]
    assert opt.trace.variants() == ["full", "full", "skip", "full"]
    assert "injected failure" in opt.trace[1].reason and "fallback" in opt.trace[3].reason
    assert len(attempts) == 1  # not tried again for this signature
    with torch.no_grad():
        assert rel_err(outs[1], model(**dit_inputs(timestep=800)).sample) <= 1e-5
    strict = xs.optimize(model, xs.XSlimConfig(schedule=schedule, block_reuse=[2, 3], strict=True))
    with pytest.raises(xs.VerificationError, match="injected"), strict.generation(num_steps=4):
        for t in (900, 800):
            strict(**dit_inputs(timestep=t))


@pytest.mark.parametrize("make_error", [
    lambda: xs.XSlimConfig(token_ratio=2.0),
    lambda: xs.XSlimConfig(max_signatures="3"),
    lambda: xs.XSlimConfig(check_finite="yes"),
    lambda: xs.Plan(0.1, 0.2),
    lambda: xs.XSlimConfig(schedule="full"),
    lambda: xs.optimize(object()),
    lambda: xs.optimize(make_dit()).generation(num_steps=0).__enter__(),
])
def test_every_error_a_user_can_trigger_is_an_xslim_error(make_error):
    with pytest.raises(xs.XSlimError):
        make_error()


def test_a_second_thread_gets_a_clear_error_and_the_first_call_is_intact():
    model = make_dit()
    opt = xs.optimize(model)
    opt(**dit_inputs())  # captured
    inside, release, errors = threading.Event(), threading.Event(), []

    def hold(*_):
        inside.set()
        release.wait(10)

    opt.observers.append(hold)
    result = {}
    first = threading.Thread(target=lambda: result.setdefault("out", opt(**dit_inputs(seed=3))))
    first.start()
    assert inside.wait(10)
    try:
        opt(**dit_inputs(seed=4))
    except xs.ConcurrentCallError as error:
        errors.append(error)
    release.set()
    first.join(10)
    assert errors and "another thread" in str(errors[0])
    with torch.no_grad():
        assert rel_err(result["out"].sample, model(**dit_inputs(seed=3)).sample) <= 1e-5


def test_plot_trace_leaves_the_global_matplotlib_backend_alone(tmp_path):
    import matplotlib

    matplotlib.use("pdf")
    opt = xs.optimize(make_dit(), xs.XSlimConfig(schedule=["full", "skip"]))
    with opt.generation(num_steps=2):
        for t in (900, 800):
            opt(**dit_inputs(timestep=t))
    xs.plot_trace(opt.trace, tmp_path / "trace.png")
    assert matplotlib.get_backend().lower() == "pdf" and (tmp_path / "trace.png").stat().st_size > 0
