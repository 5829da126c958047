"""The GPU checks of issue 12 as one prepared script: each section writes its JSON as soon as it ends
(and again after each row), in priority order; `--only` picks sections (run in the order given), `--rows`
rows by name.

- token_latency: `token` variants at r = 0.5 and 0.25 as a ratio of `full` (same backend, mode and
  batch), their FLOPs shares, and the GPU-busy share of wall time (device activity per call from
  torch.profiler over the unprofiled median; below 0.9 a variant is flagged host_bound). Rows, random
  weights, bf16: FLUX width (24 heads x 128, 2+2 blocks) at 4096 image + 512 text tokens with inductor +
  CUDA graphs; DiT-XL/2 width (16 heads x 72, 8 blocks, batch 16, eager) at 256 and 1024 tokens; FLUX
  width at 16384 + 512 tokens with CUDA graphs. parity_rel_err: the variant fed the caches of its own
  inputs against eager full (exact up to rounding).
- end_to_end: a 50-step loop with its scheduler (no VAE, no text encoder) under the released `step_fast`
  schedule (11 of 50 steps computed, skips forecast by taylor1, about 4.5x by FLOPs), inductor + CUDA
  graphs, against every step full through xs.optimize compiled the same way and against the plain model
  under torch.compile(mode="reduce-overhead"): wall-clock speedups, the ideal (FLOPs) speedup, their
  ratio. Rows: DiT-XL/2 width, 28 blocks, 256 tokens, batch 8 with CFG in one call (bound 0.9 x ideal);
  FLUX width, 2+2 blocks, 4096 + 512 tokens, batch 1 (no bound). One untimed generation warms each
  denoiser; medians of interleaved rounds.
A failing row or section records its error and the script goes on; rows due after --deadline-s (420)
are recorded as skipped. Sized for about 5 minutes on one H100 (compile times not yet measured).

GPU run (the device machine has torch 2.11 and no internet: diffusers travels as a wheel). Here, once:
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl diffusers==0.42.1
(`/.whl/` is in .gitignore). Then the device `run`, carry [".whl"], timeout_s 600, command:
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site || exit; set -o pipefail; \
    PYTHONUNBUFFERED=1 python3 -m benchmarks.gpu_suite --out-dir $OUT 2>&1 | tee $OUT/gpu_suite.log
and copy the JSON files from files_at to benchmarks/results/. The CPU smoke run (tests/test_gpu_suite.py),
every backend eager and torch.compile on its eager backend (no CUDA graphs on a CPU):
    python -m benchmarks.gpu_suite --device cpu --tiny --out-dir /tmp/suite
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import time
import traceback
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import diffusers
import torch
from torch._dynamo.utils import counters
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

import xslim_compile as xs
from xslim_compile.plan import Variant
from xslim_compile.runtime.module import OptimizedDenoiser
from xslim_compile.runtime.policies import token_bucket
from xslim_compile.runtime.variant_set import VariantKey
from xslim_compile.schedules import released_schedule

from .common import (RESULTS, count_flops, machine_name, machine_slug, synchronize, time_interleaved, time_rounds,
                     write_json)

RATIOS = (0.5, 0.25)
HOST_BOUND = 0.9  # GPU-busy / wall below this: the call measures the host, not the variant
GUIDANCE = 4.0
MODELS = {"dit": "DiTTransformer2DModel", "flux": "FluxTransformer2DModel"}
WIDTH = {  # (real, tiny) constructor arguments
    "dit": (dict(num_attention_heads=16, attention_head_dim=72), dict(num_attention_heads=2, attention_head_dim=8)),
    "flux": (dict(num_attention_heads=24, attention_head_dim=128, joint_attention_dim=4096, pooled_projection_dim=768,
                  in_channels=64, axes_dims_rope=(16, 56, 56)),
             dict(num_attention_heads=2, attention_head_dim=8, joint_attention_dim=32, pooled_projection_dim=16,
                  in_channels=16, axes_dims_rope=(2, 2, 4))),
}
TEXT_TOKENS = (512, 8)


@dataclass(frozen=True)
class Spec:
    name: str
    family: str      # "dit" (patch 2: (side/2)² tokens) or "flux" (patch 1: side² image tokens)
    layers: int      # DiT blocks; FLUX: as many double- as single-stream blocks (2 or more: a stack is
                     # found as a ModuleList of at least two blocks)
    side: int        # latent grid side
    batch: int       # samples (DiT end-to-end: both CFG branches of each in one call)
    backend: str = "eager"
    mode: str | None = None
    bound: float | None = None  # end-to-end: wall speedup / ideal to reach


CG = dict(backend="inductor", mode="reduce-overhead")
TOKEN_ROWS = (Spec("flux_4096", "flux", 2, 64, 1, **CG), Spec("dit_256", "dit", 8, 32, 16),
              Spec("dit_1024", "dit", 8, 64, 16), Spec("flux_16k", "flux", 2, 128, 1, **CG))
E2E_ROWS = (Spec("dit_xl_28", "dit", 28, 32, 8, **CG, bound=0.9), Spec("flux_4096", "flux", 2, 64, 1, **CG))


def shrink(spec: Spec) -> Spec:
    return replace(spec, layers=2, side=spec.side // (4 if spec.family == "dit" else 8), batch=min(spec.batch, 2))


def lowering(spec: Spec, device: torch.device) -> tuple[str, str | None]:
    # CUDA graphs need a GPU, and CPU inductor compiles take minutes: the CPU run is eager throughout
    return (spec.backend, spec.mode) if device.type == "cuda" else ("eager", None)


def build_model(spec: Spec, tiny: bool, device: torch.device):
    torch.manual_seed(0)
    with torch.device(device):  # random init on the GPU: a FLUX-width block has 0.1-0.3 B parameters
        if spec.family == "dit":
            model = diffusers.DiTTransformer2DModel(**WIDTH["dit"][tiny], in_channels=4, out_channels=8,
                                                    num_layers=spec.layers, sample_size=spec.side, patch_size=2,
                                                    num_embeds_ada_norm=1000)
        else:
            model = diffusers.FluxTransformer2DModel(**WIDTH["flux"][tiny], patch_size=1, num_layers=spec.layers,
                                                     num_single_layers=spec.layers, guidance_embeds=False)
    return model.to(device, torch.bfloat16).eval()  # also moves anything a constructor put on the CPU


def model_inputs(spec: Spec, tiny: bool, device: torch.device, rows: int) -> dict:
    g = torch.Generator().manual_seed(1)
    if spec.family == "dit":
        kwargs = dict(hidden_states=torch.randn(rows, 4, spec.side, spec.side, generator=g),
                      class_labels=torch.randint(0, 1000, (rows,), generator=g), timestep=torch.full((rows,), 500.0))
    else:
        width, text = WIDTH["flux"][tiny], TEXT_TOKENS[tiny]
        ids = torch.zeros(spec.side, spec.side, 3)
        ids[..., 1], ids[..., 2] = torch.arange(spec.side)[:, None], torch.arange(spec.side)[None, :]
        kwargs = dict(hidden_states=torch.randn(rows, spec.side ** 2, width["in_channels"], generator=g),
                      encoder_hidden_states=torch.randn(rows, text, width["joint_attention_dim"], generator=g),
                      pooled_projections=torch.randn(rows, width["pooled_projection_dim"], generator=g),
                      img_ids=ids.reshape(-1, 3), txt_ids=torch.zeros(text, 3), timestep=torch.full((rows,), 0.5))
    return {k: v.to(device, torch.bfloat16) if v.is_floating_point() and k != "timestep" else v.to(device)
            for k, v in kwargs.items()}


def describe(spec: Spec, args, backend: str, mode: str | None) -> dict:
    return {"name": spec.name, "model": MODELS[spec.family], "width": WIDTH[spec.family][args.tiny],
            "layers": spec.layers, "text_tokens": TEXT_TOKENS[args.tiny] if spec.family == "flux" else 0,
            "batch": spec.batch, "dtype": "bfloat16", "backend": backend, "compile_mode": mode,
            "cuda_graphs": mode == "reduce-overhead"}


def eager_variant(variants, key: VariantKey):
    """A variant's rewritten graph run as it is (no compile): caches and FLOP counts without a CUDA graph."""
    return variants.builder._as_variant(key, variants.builder.graph(key))


def union_us(spans) -> float:
    """Length of the union of [start, end] intervals (kernels of several streams may overlap)."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(spans):
        if end > reach:
            total, reach = total + end - max(start, reach), end
    return total


def busy_share(run, device: torch.device, calls: int, seconds: float) -> tuple[float | None, float]:
    """GPU-busy share of one call's wall time (device activity per profiled call over the unprofiled
    median: the profiler slows the host, not the kernels; None where none was recorded, as on a CPU) and
    the device activities (kernels, copies) per call."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(calls):
            run()
        synchronize(device)
    spans = [(e.time_range.start, e.time_range.end) for e in prof.events() if e.device_type == DeviceType.CUDA]
    return (round(union_us(spans) / calls / (seconds * 1e6), 4) if spans else None), len(spans) / calls


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def measure_tokens(spec: Spec, args, device: torch.device) -> dict:
    backend, mode = lowering(spec, device)
    opt = xs.optimize(build_model(spec, args.tiny, device), xs.XSlimConfig(backend=backend, compile_mode=mode,
                                                                           verify=False))
    with torch.no_grad():
        opt(**model_inputs(spec, args.tiny, device, spec.batch))  # capture; builds full
        variants = next(iter(opt._variant_sets.values()))
        tensors, n = variants.builder.args, variants.image_tokens
        want, caches = eager_variant(variants, VariantKey(Variant.FULL, residuals=True, kv=True))(tensors, {})
        for name in [c for c in caches if c.startswith("delta.")]:
            caches["delta_prev." + name[len("delta."):]] = torch.zeros_like(caches[name])
        keys = {"full": VariantKey(Variant.FULL)}
        keys.update({f"token_{r}": VariantKey(Variant.TOKEN, tokens=token_bucket(r, n)) for r in RATIOS})
        runners = {name: (lambda key=key: variants.get(key)(tensors, caches)) for name, key in keys.items()}
        outs = {name: run()[0] for name, run in runners.items()}  # build and compile outside the timing
        flops = {name: count_flops(lambda key=key: eager_variant(variants, key)(tensors, caches))
                 for name, key in keys.items()}
        seconds = time_interleaved(runners, args.repeats, device)
        busy = {name: busy_share(run, device, args.profile_calls, seconds[name]) for name, run in runners.items()}
    rows = {name: {"tokens": key.tokens or n, "ms": round(seconds[name] * 1e3, 4),
                   "ratio_of_full": round(seconds[name] / seconds["full"], 4),
                   "flops_share": round(flops[name] / flops["full"], 4), "busy_share": busy[name][0],
                   "host_bound": None if busy[name][0] is None else busy[name][0] < HOST_BOUND,
                   "device_activities_per_call": busy[name][1], "parity_rel_err": rel_err(outs[name][0], want[0]),
                   "cache_input_bytes": sum(caches[c].numel() * caches[c].element_size()
                                            for c in variants.get(key).cache_inputs)}
            for name, key in keys.items()}
    return {**describe(spec, args, backend, mode), "image_tokens": n, "full_ms": rows["full"]["ms"], "variants": rows}


def generate(denoiser, spec: Spec, inputs: dict, noise: torch.Tensor, steps: int, device: torch.device):
    """One generation. The scheduler steps on its CPU timesteps (no device read); DiT runs both CFG
    branches in one call and keeps 4 of its 8 output channels (the learned sigma is dropped)."""
    if spec.family == "dit":
        scheduler, scale = diffusers.DDIMScheduler(), 1.0
    else:
        scheduler, scale = diffusers.FlowMatchEulerDiscreteScheduler(), 1 / 1000  # FLUX takes t / 1000
    scheduler.set_timesteps(steps)
    rows, x = inputs["hidden_states"].shape[0], noise.clone()
    # [steps, rows] on the device, made once: each call gets a contiguous row (no stride-0 CUDA-graph input)
    timesteps = (scheduler.timesteps.to(device, torch.float32) * scale)[:, None].repeat(1, rows)
    context = denoiser.generation(steps) if isinstance(denoiser, OptimizedDenoiser) else nullcontext()
    with torch.no_grad(), context:
        for i, t in enumerate(scheduler.timesteps):
            model_in = torch.cat([x, x]) if spec.family == "dit" else x
            if device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()  # the last call's outputs are dead by now
            out = denoiser(**{**inputs, "hidden_states": model_in.to(torch.bfloat16),
                              "timestep": timesteps[i]}).sample.float()
            if spec.family == "dit":
                cond, uncond = out[:, :4].chunk(2)
                out = uncond + GUIDANCE * (cond - uncond)
            x = scheduler.step(out, t, x).prev_sample
    return x


def flop_observer(opt: OptimizedDenoiser, per_call: list):
    """Counts each call's FLOPs on its variant's eager graph with the call's caches (once per variant)."""
    counted = {}

    def observe(info, key, state, latent):
        if key not in counted:
            variants = next(iter(opt._variant_sets.values()))
            caches = {**state.caches, **opt._extra}
            with torch.no_grad():
                counted[key] = count_flops(lambda: eager_variant(variants, key)(variants.builder.args, caches))
        per_call.append((key.variant, counted[key]))
    return observe


def measure_end_to_end(spec: Spec, args, device: torch.device) -> dict:
    backend, mode, steps = *lowering(spec, device), args.steps
    schedule = released_schedule("step_fast") if steps == 50 else ["full", "full"] + ["skip"] * (steps - 3) + ["full"]
    model = build_model(spec, args.tiny, device)
    rows = spec.batch * (2 if spec.family == "dit" else 1)
    inputs = model_inputs(spec, args.tiny, device, rows)
    if spec.family == "dit":  # class 1000: DiT's null class, the unconditional branch
        inputs["class_labels"][spec.batch:] = 1000
    noise = torch.randn(inputs["hidden_states"][:spec.batch].shape, generator=torch.Generator().manual_seed(2))
    noise = noise.to(device)
    config = dict(backend=backend, compile_mode=mode, check_finite=False, verify=False)  # no host read per call
    plan = xs.optimize(model, xs.XSlimConfig(schedule=schedule, estimator="taylor1", **config))
    compiled = torch.compile(model, mode=mode) if device.type == "cuda" else torch.compile(model, backend="eager")
    denoisers = {"xslim_plan": plan, "xslim_full": xs.optimize(model, xs.XSlimConfig(**config)),
                 "torch_compile": compiled}
    per_call, warm_s, finals = [], {}, {}
    plan.observers.append(flop_observer(plan, per_call))
    for name, denoiser in denoisers.items():  # one untimed generation each: capture, compile, record graphs
        start = time.perf_counter()
        finals[name] = generate(denoiser, spec, inputs, noise, steps, device)
        synchronize(device)
        warm_s[name] = round(time.perf_counter() - start, 2)
    plan.observers.clear()
    runs = time_rounds({name: (lambda d=d: generate(d, spec, inputs, noise, steps, device))
                        for name, d in denoisers.items()}, args.e2e_repeats, device)
    ms = {name: statistics.median(v) * 1e3 for name, v in runs.items()}
    ideal = steps * next(f for v, f in per_call if v is Variant.FULL) / sum(f for _, f in per_call)
    speedup = {f"vs_{name}": round(ms[name] / ms["xslim_plan"], 4) for name in ("xslim_full", "torch_compile")}
    ratio = {k: round(v / ideal, 4) for k, v in speedup.items()}
    records = list(plan.trace)[-steps:]
    return {**describe(spec, args, backend, mode), "image_tokens": next(iter(plan._variant_sets.values())).image_tokens,
            "cfg": spec.family == "dit", "rows_per_call": rows, "steps": steps, "check_finite": False,
            "schedule": "released step_fast, taylor1" if steps == 50 else "tiny: full, full, skip..., full",
            "ms": {k: round(v, 3) for k, v in ms.items()}, "warm_s": warm_s,
            "runs_ms": {k: [round(s * 1e3, 3) for s in v] for k, v in runs.items()},
            "ideal_flops_speedup": round(ideal, 4), "speedup": speedup, "ratio_to_ideal": ratio, "bound": spec.bound,
            "meets_bound": None if spec.bound is None else {k: v >= spec.bound for k, v in ratio.items()},
            "plan_variants": dict(Counter(r.variant for r in records)),
            "fallbacks": sorted({r.reason for r in records if "fallback" in r.reason or "wanted" in r.reason}),
            "full_vs_torch_compile_rel_err": rel_err(finals["xslim_full"], finals["torch_compile"]),
            "plan_vs_full_rel_diff": rel_err(finals["xslim_plan"], finals["xslim_full"])}


def run_rows(specs, measure, args, device: torch.device, result: dict, save) -> None:
    for spec in specs:
        if args.rows and spec.name not in args.rows:
            continue
        if time.perf_counter() > args.deadline:  # leave device time for a rerun of what is missing
            result["rows"].append({"name": spec.name, "skipped": f"due after --deadline-s {args.deadline_s}"})
            save()
            continue
        start, skips = time.perf_counter(), counters["inductor"]["cudagraph_skips"]
        try:
            row = measure(shrink(spec) if args.tiny else spec, args, device)
        except Exception as error:  # recorded; the next row may still run
            row = {"name": spec.name, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
            print(row["traceback"], flush=True)
        # a graph inductor could not put in a CUDA graph runs without one: then the row is no CUDA-graph row
        row["cudagraph_skips"] = counters["inductor"]["cudagraph_skips"] - skips
        row["seconds"] = round(time.perf_counter() - start, 2)
        result["rows"].append(row)
        save()
        print(f"[gpu_suite] {result['section']}: {json.dumps({k: v for k, v in row.items() if k != 'traceback'})}",
              flush=True)
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()


SECTIONS = {  # priority order
    "token_latency": lambda *a: run_rows(TOKEN_ROWS, measure_tokens, *a),
    "end_to_end": lambda *a: run_rows(E2E_ROWS, measure_end_to_end, *a),
}


def main(argv=None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), default=None)
    parser.add_argument("--rows", nargs="+", default=None, help="run only the rows of these names")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny widths, 2 layers, 4 steps: a smoke run")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--deadline-s", type=float, default=420, help="start no row after this many seconds")
    args = parser.parse_args(argv)
    args.steps = 4 if args.tiny else 50
    args.repeats, args.e2e_repeats, args.profile_calls = (3, 2, 2) if args.tiny else (20, 5, 5)
    args.deadline = time.perf_counter() + args.deadline_s
    device = torch.device(args.device)
    if device.type == "cuda":  # start CUPTI before any CUDA graph is captured, so that it sees their kernels
        busy_share(lambda: torch.ones(8, device=device).sum(), device, 1, 1.0)
    written = {}
    for section in args.only or SECTIONS:
        path = args.out_dir / f"gpu_suite_{section}_{machine_slug(device)}{'_tiny' if args.tiny else ''}.json"
        result = {"benchmark": "gpu_suite", "section": section, "machine": machine_name(device), "device": str(device),
                  "torch": torch.__version__, "diffusers": diffusers.__version__, "tiny": args.tiny,
                  "note": None if device.type == "cuda" else "CPU: eager backends, no CUDA graphs, no busy share",
                  "complete": False, "rows": []}
        start = time.perf_counter()
        try:
            SECTIONS[section](args, device, result, lambda: write_json(path, result))
            result["complete"] = True
        except Exception as error:  # recorded; the next section still runs
            result["error"] = f"{type(error).__name__}: {error}"
            result["traceback"] = traceback.format_exc()
        result["seconds"] = round(time.perf_counter() - start, 2)
        written[section] = write_json(path, result)
        print(f"[gpu_suite] {section}: {result.get('error', 'done')} in {result['seconds']} s -> {path}", flush=True)
    return written


if __name__ == "__main__":
    main()
