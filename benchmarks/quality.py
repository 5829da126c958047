"""Quality and speed of acceleration methods on the reference model, against full compute, same seeds.

    python -m benchmarks.quality --samples 1000     # the full evaluation (hours on 2 CPU cores,
                                                    # 4 minutes on an H100 with --batch 250)
    python -m benchmarks.quality --quick            # a smoke run of a few methods (a few minutes)

Every method generates the same (class, seed) pairs with DDIM-50 and batched CFG (step-count methods
use fewer steps). Reported per method: wall-clock and FLOPs speedup over full compute (same process),
PSNR/SSIM against the full-compute sample of the same seed, FD on the classifier's features and KID on
EffNet features against the Fashion-MNIST test set, and class accuracy. FD-EffNet only from >= 5000
samples (1280-d features need thousands).
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import xslim_compile as xs
from xslim_compile.schedules import released_schedule, uniform_schedule

from .common import RESULTS, count_flops, machine_name, synchronize, write_json
from .metrics import class_accuracy, feature_stats, frechet_distance, kid, psnr, ssim
from .reference.data import to_pixel_space
from .reference.features import classifier_features, effnet_features, load_effnet, load_stats
from .reference.model import NUM_CLASSES, load_dit, read_metadata
from .reference.sampler import DEFAULT_GUIDANCE, DEFAULT_STEPS, sample


@dataclass(frozen=True)
class Method:
    name: str
    num_steps: int = DEFAULT_STEPS
    schedule: tuple[str, ...] | None = None    # run through xslim_compile with this schedule
    plan: str | None = None                    # a calibrated plan: preset "slow" | "fast"
    online: bool = False                       # the plan's online controller instead of its schedule
    target_speedup: float | None = None
    controller: str | None = None              # an in-framework baseline: "teacache" | "delta_dit"
    hook: str | None = None                    # a diffusers cache hook: "fbcache" | "taylorseer"
    hook_settings: dict = field(default_factory=dict)


def all_methods() -> list[Method]:
    methods = [Method("full")]
    methods += [Method(f"steps_{n}", num_steps=n) for n in (25, 20, 10)]
    methods += [Method(f"uniform_{n}", schedule=tuple(uniform_schedule(DEFAULT_STEPS, n))) for n in (2, 3, 5)]
    methods += [Method(f"released_{name}", schedule=tuple(released_schedule(name)))
                for name in ("step_slow", "polish_slow", "step_fast", "polish_fast")]
    methods += [Method("xslim_slow", plan="slow"), Method("xslim_fast", plan="fast"),
                Method("xslim_fast_online", plan="fast", online=True),
                Method("xslim_target_6x", plan="fast", target_speedup=6.0),
                Method("teacache_like", plan="fast", online=True, controller="teacache"),
                Method("delta_dit_like", controller="delta_dit"),
                Method("fbcache_like_0.1", controller="first_block", hook_settings={"threshold": 0.1})]
    methods += [Method("fbcache_0.05", hook="fbcache", hook_settings={"threshold": 0.05}),
                Method("fbcache_0.1", hook="fbcache", hook_settings={"threshold": 0.1}),
                # diffusers' default patterns end in "attn" and miss DiT's attn1: name its modules
                Method("taylorseer_n5", hook="taylorseer", hook_settings={
                    "cache_interval": 5, "cache_identifiers": [r"transformer_blocks\.\d+\.(attn1|ff)"]})]
    return methods


QUICK = ("full", "steps_20", "uniform_3", "xslim_fast", "fbcache_0.1")
QUICK_SAMPLES = 10
CALIBRATION_SEEDS = list(range(10_000, 10_010))  # never among the evaluation seeds


class HookedDenoiser(nn.Module):
    """A model carrying a diffusers cache hook, given the cache context pipelines set (DiT's class has
    no CacheMixin, so the hook registry is driven directly, as CacheMixin.cache_context does)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    @contextmanager
    def generation(self, num_steps: int):
        from diffusers.hooks import HookRegistry

        HookRegistry.check_if_exists_or_initialize(self.model).reset_stateful_hooks(recurse=True)
        yield self

    def forward(self, *args, **kwargs):
        from diffusers.hooks.hooks import CacheContext, _set_cache_context

        _set_cache_context(self.model, CacheContext("cond"))
        try:
            return self.model(*args, **kwargs)
        finally:
            _set_cache_context(self.model, None)


class Calibrations:
    """Plans calibrated once per run on seeds outside the evaluation set."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.plans = model, {}

    def get(self, preset: str, online: bool = False, target: float | None = None) -> xs.Plan:
        key = (preset, online, target)
        if key not in self.plans:
            labels = [i % NUM_CLASSES for i in range(len(CALIBRATION_SEEDS))]
            self.plans[key] = xs.calibrate(self.model, run=lambda m: sample(m, labels, CALIBRATION_SEEDS),
                                           preset=preset, online=online, target_speedup=target)
        return self.plans[key]


def make_denoiser(method: Method, model: nn.Module, plans: Calibrations) -> nn.Module:
    from xslim_compile.plan import Variant
    from xslim_compile.runtime.controller import EveryNController, FirstBlockController, TeaCacheController

    if method.controller == "teacache":
        settings = plans.get(method.plan, online=True).controller
        controller = TeaCacheController(settings.crit, settings.ratio_curve, first_full=settings.first_full,
                                        num_steps=DEFAULT_STEPS)
        return xs.optimize(model, xs.XSlimConfig(check_finite=False), controller=controller)
    if method.controller == "delta_dit":
        layers = model.config.num_layers
        controller = EveryNController(2, between=Variant.BLOCK, reuse=tuple(range(layers // 2, layers)))
        return xs.optimize(model, xs.XSlimConfig(check_finite=False), controller=controller)
    if method.controller == "first_block":
        controller = FirstBlockController(method.hook_settings["threshold"], model.config.num_layers)
        return xs.optimize(model, xs.XSlimConfig(check_finite=False), controller=controller)
    if method.plan is not None:
        plan = plans.get(method.plan, method.online, method.target_speedup)
        return xs.optimize(model, xs.XSlimConfig(plan=plan, check_finite=False))
    if method.schedule is not None:
        return xs.optimize(model, xs.XSlimConfig(schedule=list(method.schedule), check_finite=False))
    if method.hook == "fbcache":
        from diffusers.hooks import FirstBlockCacheConfig, apply_first_block_cache

        hooked = copy.deepcopy(model)
        apply_first_block_cache(hooked, FirstBlockCacheConfig(**method.hook_settings))
        return HookedDenoiser(hooked)
    if method.hook == "taylorseer":
        from diffusers.hooks import TaylorSeerCacheConfig, apply_taylorseer_cache

        hooked = copy.deepcopy(model)
        apply_taylorseer_cache(hooked, TaylorSeerCacheConfig(taylor_factors_dtype=torch.float32,
                                                             **method.hook_settings))
        return HookedDenoiser(hooked)
    return model


def generate(denoiser, method: Method, labels: list[int], seeds: list[int], batch: int) -> tuple[np.ndarray, float]:
    """Images of every (label, seed), and seconds per sample measured on warm batches: the first batch
    pays for capture and building, so it is timed only when it is the only one (then it runs twice)."""
    images, times = [], []
    starts = list(range(0, len(labels), batch))
    device = next(denoiser.parameters()).device
    for i in tqdm(starts, desc=method.name, leave=False):
        synchronize(device)
        start = time.perf_counter()
        x = sample(denoiser, labels[i:i + batch], seeds[i:i + batch], num_steps=method.num_steps)
        synchronize(device)
        times.append((time.perf_counter() - start, len(x)))
        images.append(to_pixel_space(x))
    if len(starts) == 1:
        start = time.perf_counter()
        sample(denoiser, labels[:batch], seeds[:batch], num_steps=method.num_steps)
        synchronize(device)
        times = [(time.perf_counter() - start, len(labels[:batch]))]
    else:
        times = times[1:]
    return np.concatenate(images), sum(t for t, _ in times) / sum(n for _, n in times)


def score(images: np.ndarray, labels: list[int], reference: np.ndarray | None, stats: dict, effnet) -> dict:
    predicted, feats = classifier_features(images)
    mu, cov = feature_stats(feats)
    eff = effnet_features(effnet, images)
    out = {
        "class_accuracy": class_accuracy(predicted, labels),
        "fd_classifier": frechet_distance(mu, cov, stats["classifier_mu"].astype(np.float64),
                                          stats["classifier_cov"].astype(np.float64)),
        "kid_effnet": kid(eff, stats["effnet_kid_features"].astype(np.float32),
                          subset_size=min(500, len(images))),
    }
    if len(images) >= 5000:
        mu_e, cov_e = feature_stats(eff)
        out["fd_effnet"] = frechet_distance(mu_e, cov_e, stats["effnet_mu"].astype(np.float64),
                                            stats["effnet_cov"].astype(np.float64))
    if reference is not None:
        p = psnr(images, reference)
        out["psnr"] = float(np.mean(np.minimum(p, 100.0)))  # identical samples count as 100 dB
        out["ssim"] = float(np.mean(ssim(images, reference)))
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--methods", nargs="*", default=None, help="names to run (default: all)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES} samples of {', '.join(QUICK)}")
    parser.add_argument("--out", default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.methods = QUICK_SAMPLES, list(QUICK)
    known = {m.name: m for m in all_methods()}
    unknown = [n for n in args.methods or () if n not in known]
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {', '.join(known)}")
    # in the order given, so that a run cut short has the ones that matter most
    methods = list(known.values()) if args.methods is None else [known[n] for n in args.methods]
    if not methods or methods[0].name != "full":
        methods.insert(0, Method("full"))

    device = torch.device(args.device)
    model, stats, effnet = load_dit().to(device), load_stats(), load_effnet().to(device)
    plans = Calibrations(model)
    labels = [i % NUM_CLASSES for i in range(args.samples)]
    seeds = list(range(args.samples))
    rows, reference, full_seconds, full_flops = [], None, None, None
    name = args.out or ("quality_quick" if args.quick else f"quality_{args.samples}_{device.type}")
    result = {"benchmark": "quality", "machine": machine_name(device), "torch": torch.__version__,
              "samples": args.samples, "sampler": f"DDIM, batched CFG {DEFAULT_GUIDANCE}",
              "model": "reference DiT (Fashion-MNIST)", "model_metadata": read_metadata(), "rows": rows}
    for method in tqdm(methods, desc="methods"):
        denoiser = make_denoiser(method, model, plans)
        sample(denoiser, labels[:2], seeds[:2], num_steps=method.num_steps)  # capture / warm-up
        flops = count_flops(lambda: sample(denoiser, labels[:2], seeds[:2], num_steps=method.num_steps))
        images, seconds = generate(denoiser, method, labels, seeds, args.batch)
        if method.name == "full":
            reference, full_seconds, full_flops = images, seconds, flops
        row = {"method": method.name, "steps": method.num_steps, "ms_per_sample": round(seconds * 1e3, 2),
               "speedup_wall": full_seconds / seconds, "speedup_flops": full_flops / flops}
        if hasattr(denoiser, "trace"):
            used = denoiser.trace.variants()[-DEFAULT_STEPS:]
            row["variants"] = {v: used.count(v) for v in sorted(set(used))}
        row.update(score(images, labels, reference, stats, effnet))
        rows.append(row)
        tqdm.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))
        # written after every method, so that an interrupted run keeps what it measured
        result["complete"] = len(rows) == len(methods)
        result["plans"] = {f"{k[0]}{'_online' if k[1] else ''}{f'_target{k[2]}' if k[2] else ''}": p.to_dict()
                           for k, p in plans.plans.items()}
        path = write_json(name, result)
    result["file"] = str(path.relative_to(RESULTS.parent.parent))
    print(format_table(rows))
    return result


def format_table(rows: list[dict]) -> str:
    cols = [("method", "{}"), ("steps", "{}"), ("speedup_wall", "{:.2f}x"), ("speedup_flops", "{:.2f}x"),
            ("psnr", "{:.2f}"), ("ssim", "{:.3f}"), ("fd_classifier", "{:.2f}"), ("kid_effnet", "{:.4f}"),
            ("class_accuracy", "{:.3f}")]
    lines = [[c for c, _ in cols]] + [[f.format(r[c]) if c in r else "-" for c, f in cols] for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in lines)


if __name__ == "__main__":
    main()
