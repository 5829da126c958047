"""Differential fuzzing of the optimized module with random call sequences (hypothesis).

Programs over the tiny DiT, FLUX and SD3: generations of 3 to 12 steps with the position given by
generation(), by cache_context(step_index=...), by the timestep rule or by a pipeline's scheduler
(the pipeline form); CFG batched, or sequential with and without cache_context; batch changes;
aborted generations; image-to-image generations that start mid-schedule (the pipeline form); restarts at a lower timestep after reset(); no-op and real .to(); attention
processor swaps and adapter scale changes; schedules, plans and the online controller; injected
build failures. Oracles:
(a) every call the trace records as full equals the plain model within 1e-5;
(b) each generation's outputs equal a freshly optimized module's fed only that generation, within 1e-6;
(c) each generation's trace equals its schedule or plan, except records with a fallback reason, which
    occur only where a build failure was injected.
`make test` runs 50 examples; HYPOTHESIS_PROFILE=long runs 500.
"""
from __future__ import annotations

import os

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import xslim_compile as xs  # noqa: E402
from tests.helpers import Halved, rel_err  # noqa: E402
from tests.zoo import dit_inputs, flux_inputs, make_dit, make_flux, make_sd3, sd3_inputs  # noqa: E402
from xslim_compile.build import build_variant_set  # noqa: E402
from xslim_compile.plan import ControllerSettings, PlanEntry, Variant  # noqa: E402
from xslim_compile.runtime.guards import model_fingerprint  # noqa: E402
from xslim_compile.runtime.module import OptimizedDenoiser  # noqa: E402

settings.register_profile("default", max_examples=50, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

FAMILIES = {"dit": (make_dit, dit_inputs), "flux": (make_flux, flux_inputs), "sd3": (make_sd3, sd3_inputs)}
_MODELS: dict = {}
_BUILDS: dict = {}


def model_of(family: str):
    """One model per family for all examples (captures are cached per model state and signature); FLUX
    and SD3 carry a LoRA adapter so that adapter scales can change."""
    if family not in _MODELS:
        model = FAMILIES[family][0]()
        if family != "dit":
            from peft import LoraConfig

            model.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_v"], init_lora_weights=False),
                              adapter_name="a")
        _MODELS[family] = (model, {name: p for name, p in getattr(model, "attn_processors", {}).items()})
    return _MODELS[family][0]


def cached_build(inject: bool):
    # every fuzzed configuration builds alike (eager, fp32, verified): the schedule or plan only decides
    # which variants are asked for, so one variant set per model state and signature serves them all
    def build(model, kwargs, signature, config):
        key = (id(model), model_fingerprint(model), signature, inject)
        if key not in _BUILDS:
            variants = build_variant_set(model, kwargs, signature, config)
            if inject:
                factory = variants._factory

                def failing(variant_key):
                    if variant_key.variant is Variant.BLOCK:
                        raise xs.VerificationError("injected build failure")
                    return factory(variant_key)
                variants._factory = failing
            _BUILDS[key] = variants
        return _BUILDS[key]
    return build


class FakePipe:
    """What the pipeline form reads: a scheduler that keeps a step index."""

    def __init__(self) -> None:
        from diffusers import FlowMatchEulerDiscreteScheduler

        self.scheduler = FlowMatchEulerDiscreteScheduler()


# --- programs --------------------------------------------------------------------------------------
def schedules(draw, length=12):
    """A feasible schedule: step 0 full; token only after two computed steps."""
    out, computed = ["full"], 1
    for _ in range(length - 1):
        kind = draw(st.sampled_from(["full", "skip", "skip", "block"] + (["token"] if computed >= 2 else [])))
        out.append(kind)
        computed += kind != "skip"
    return out


@st.composite
def programs(draw):
    family = draw(st.sampled_from(sorted(FAMILIES)))
    controller = draw(st.sampled_from(["schedule", "plan", "online"]))
    estimator = draw(st.sampled_from(["reuse", "taylor1", "taylor2", "damped"]))
    if controller == "schedule":
        config = xs.XSlimConfig(schedule=schedules(draw), estimator=estimator, always_compute_blocks=1,
                                token_ratio=0.5)
    elif controller == "plan":
        positions = draw(st.lists(st.floats(0.05, 0.95), min_size=1, max_size=3))
        entries = (PlanEntry(0.0, Variant.FULL, estimator=estimator),) + tuple(
            PlanEntry(p, draw(st.sampled_from([Variant.FULL, Variant.BLOCK])), estimator=estimator) for p in positions)
        config = xs.XSlimConfig(plan=xs.Plan(0.1, 0.2, entries=entries, first_full=1, last_full=True,
                                             source={"num_steps": 12}), always_compute_blocks=1)
    else:
        online = ControllerSettings(0.05, 0.12, ((0.0, 1.0), (1.0, 1.0)), ((0.5, "block"),), first_full=1,
                                    max_skips=3, estimator=estimator)
        config = xs.XSlimConfig(plan=xs.Plan(0.05, 0.12, controller=online, source={"num_steps": 12}),
                                always_compute_blocks=1)
    inject = controller != "online" and draw(st.booleans())
    # one way of telling positions per program: a module attached to a pipeline reads its scheduler
    mode = draw(st.sampled_from(["generation", "context", "timestep", "scheduler"]))
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["gen", "gen", "gen", "reset", "to_noop", "to_real", "restart_low"]
                                    + (["swap", "adapter"] if family != "dit" else [])
                                    + (["img2img", "img2img"] if mode == "scheduler" else [])))
        if kind in ("gen", "restart_low", "img2img"):
            steps = draw(st.integers(3, 10))
            cfg = draw(st.sampled_from(["batched", "sequential", "sequential_noctx"]))
            if cfg == "sequential_noctx" and mode != "scheduler":
                cfg = "sequential"  # without cache_context only the pipeline form tells the calls apart
            batch, abort = draw(st.integers(1, 2)), draw(st.one_of(st.none(), st.integers(1, steps - 1)))
            if kind == "img2img":
                # an aborted run, then one whose scheduler begins mid-schedule with the same shapes: the
                # aborted run's caches must not reach it (only the pipeline form can know the position)
                ops.append(("gen", steps, cfg, batch, draw(st.integers(1, steps - 1)), draw(st.integers(0, 10 ** 6)), 0))
                steps = draw(st.integers(3, 10))
                kind, abort = "gen", None
            after_abort = bool(ops) and ops[-1][0] == "gen" and ops[-1][4] is not None
            begin = draw(st.integers(1 if after_abort else 0, steps - 1)) if kind == "gen" and mode == "scheduler" else 0
            ops.append((kind, steps, cfg, batch, abort, draw(st.integers(0, 10 ** 6)), begin))
        elif kind == "adapter":
            ops.append((kind, draw(st.sampled_from([0.0, 0.3, 1.0]))))
        else:
            ops.append((kind,))
    return family, controller, config, inject, mode, ops


# --- running a generation ------------------------------------------------------------------------
def run_generation(opt, pipe, family, mode, op):
    """The calls of one generation; returns [(inputs, output, trace record)] in call order."""
    kind, steps, cfg, batch, abort, seed, begin = op
    make_inputs = FAMILIES[family][1]
    branches = ["cond", "uncond"] if cfg != "batched" else [None]
    start = 500.0 if kind == "restart_low" else 999.0
    if kind == "restart_low":
        opt.reset()  # the user's help the module form needs for a restart below the last timestep
    if mode == "scheduler":
        pipe.scheduler.set_timesteps(steps)
        pipe.scheduler.set_begin_index(begin)
    calls, last = [], steps if abort is None or abort <= begin else abort
    context = opt.generation(steps) if mode == "generation" else None
    if context is not None:
        context.__enter__()
    try:
        for i in range(begin, last):
            t = float(pipe.scheduler.timesteps[i]) if mode == "scheduler" else start - i * (start - 1) / steps
            for branch in branches:
                inputs = make_inputs(batch=batch * (2 if cfg == "batched" else 1), seed=seed + 7 * i + len(calls),
                                     timestep=t / (1000.0 if family == "flux" else 1.0))
                if branch is None or cfg == "sequential_noctx":
                    ctx = opt.cache_context("default", step_index=i, num_inference_steps=steps) \
                        if mode == "context" else None
                else:
                    ctx = opt.cache_context(branch, step_index=i, num_inference_steps=steps) \
                        if mode == "context" else opt.cache_context(branch)
                if ctx is not None:
                    with ctx:
                        out = opt(**inputs).sample
                else:
                    out = opt(**inputs).sample
                calls.append((inputs, out, opt.trace[-1]))
            if mode == "scheduler":
                x = torch.zeros(1)
                pipe.scheduler.step(x, pipe.scheduler.timesteps[i], x)
    finally:
        if context is not None:
            context.__exit__(None, None, None)
    return calls


def expected(config, steps, step, mode):
    if config.schedule is not None:
        return config.schedule[step].value if step < len(config.schedule) else "full"
    # the timestep rule does not know the step count: a plan assumes its calibration's
    return config.plan.variants(steps if mode != "timestep" else config.plan.source["num_steps"])[step]


def optimized(model, config, inject, mode):
    opt, pipe = OptimizedDenoiser(model, config, cached_build(inject)), FakePipe()
    if mode == "scheduler":
        opt.attach(pipe)
    return opt, pipe


@given(programs())
def test_random_call_sequences_match_the_model_and_a_fresh_module(program):
    family, controller, config, inject, mode, ops = program
    model = model_of(family)
    processors = _MODELS[family][1]
    if processors:
        model.set_attn_processor(dict(processors))
    if family != "dit":
        model.set_adapters(["a"], weights=[1.0])
    opt, pipe = optimized(model, config, inject, mode)
    for op in ops:
        if op[0] == "reset":
            opt.reset()
        elif op[0] == "to_noop":
            opt.to("cpu")
        elif op[0] == "to_real":
            opt.to(torch.float64)
            opt.to(torch.float32)
        elif op[0] == "swap":
            opt.set_attn_processor({name: Halved(p) for name, p in processors.items()})
        elif op[0] == "adapter":
            opt.set_adapters(["a"], weights=[op[1]])
        else:
            calls = run_generation(opt, pipe, family, mode, op)
            fresh, fresh_pipe = optimized(model, config, inject, mode)
            replay = run_generation(fresh, fresh_pipe, family, mode, op)
            per_branch: dict = {}
            for (inputs, out, record), (_, again, _) in zip(calls, replay):
                if record.variant == "full":                                        # (a)
                    with torch.no_grad():
                        assert rel_err(out, model(**inputs).sample) <= 1e-5, record
                assert rel_err(out, again) <= 1e-6, record                          # (b)
                per_branch.setdefault(record.branch, []).append(record)
            if controller != "online":                                              # (c)
                steps = op[1]
                for records in per_branch.values():
                    for r in records:
                        want = expected(config, steps, r.step, mode)
                        if "fallback" in r.reason:
                            assert inject and want == "block", r
                        elif op[6] > 0 and r.variant == "full" and ("yet" in r.reason or "needs" in r.reason):
                            assert want != "full", r  # reuse wanted before the generation computed anything
                        else:
                            assert r.variant == want, (r, [str(x) for x in records])
