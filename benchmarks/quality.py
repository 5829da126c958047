"""Quality and speed of acceleration methods on the reference model, against full compute, same seeds.

    python -m benchmarks.quality --samples 1000     # the full evaluation (hours on 2 CPU cores)
    python -m benchmarks.quality --quick            # a smoke run of a few methods (about a minute)

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

from .common import RESULTS, count_flops, machine_name, write_json
from .metrics import class_accuracy, feature_stats, frechet_distance, kid, psnr, ssim
from .reference.data import to_pixel_space
from .reference.features import classifier_features, effnet_features, load_effnet, load_stats
from .reference.model import NUM_CLASSES, load_dit, read_metadata
from .reference.sampler import DEFAULT_STEPS, sample


@dataclass(frozen=True)
class Method:
    name: str
    num_steps: int = DEFAULT_STEPS
    schedule: tuple[str, ...] | None = None    # run through xslim_compile with this schedule
    hook: str | None = None                    # a diffusers cache hook: "fbcache" | "taylorseer"
    hook_settings: dict = field(default_factory=dict)


def all_methods() -> list[Method]:
    methods = [Method("full")]
    methods += [Method(f"steps_{n}", num_steps=n) for n in (25, 20, 10)]
    methods += [Method(f"uniform_{n}", schedule=tuple(uniform_schedule(DEFAULT_STEPS, n))) for n in (2, 3, 5)]
    methods += [Method(f"xslim_{name}", schedule=tuple(released_schedule(name)))
                for name in ("step_slow", "polish_slow", "step_fast", "polish_fast")]
    methods += [Method("fbcache_0.05", hook="fbcache", hook_settings={"threshold": 0.05}),
                Method("fbcache_0.1", hook="fbcache", hook_settings={"threshold": 0.1}),
                Method("taylorseer_n5", hook="taylorseer", hook_settings={"cache_interval": 5})]
    return methods


QUICK = ("full", "steps_20", "uniform_3", "xslim_step_fast", "fbcache_0.1")


class HookedDenoiser(nn.Module):
    """A model carrying a diffusers cache hook, called the way pipelines call it (cache_context)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    @contextmanager
    def generation(self, num_steps: int):
        self.model._reset_stateful_cache()
        yield self

    def forward(self, *args, **kwargs):
        with self.model.cache_context("cond"):
            return self.model(*args, **kwargs)


def make_denoiser(method: Method, model: nn.Module) -> nn.Module:
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
    images, seconds = [], 0.0
    for i in tqdm(range(0, len(labels), batch), desc=method.name, leave=False):
        start = time.perf_counter()
        x = sample(denoiser, labels[i:i + batch], seeds[i:i + batch], num_steps=method.num_steps)
        seconds += time.perf_counter() - start
        images.append(to_pixel_space(x))
    return np.concatenate(images), seconds


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
    parser.add_argument("--quick", action="store_true", help=f"20 samples of {', '.join(QUICK)}")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.methods = 20, list(QUICK)
    methods = [m for m in all_methods() if args.methods is None or m.name in args.methods]
    if not methods or methods[0].name != "full":
        methods.insert(0, Method("full"))

    model, stats, effnet = load_dit(), load_stats(), load_effnet()
    labels = [i % NUM_CLASSES for i in range(args.samples)]
    seeds = list(range(args.samples))
    rows, reference, full_seconds, full_flops = [], None, None, None
    for method in tqdm(methods, desc="methods"):
        denoiser = make_denoiser(method, model)
        sample(denoiser, labels[:1], seeds[:1], num_steps=method.num_steps)  # capture / warm-up
        flops = count_flops(lambda: sample(denoiser, labels[:2], seeds[:2], num_steps=method.num_steps))
        images, seconds = generate(denoiser, method, labels, seeds, args.batch)
        if method.name == "full":
            reference, full_seconds, full_flops = images, seconds, flops
        row = {"method": method.name, "steps": method.num_steps, "seconds": round(seconds, 2),
               "speedup_wall": full_seconds / seconds, "speedup_flops": full_flops / flops}
        row.update(score(images, labels, reference, stats, effnet))
        rows.append(row)
        tqdm.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))

    result = {"benchmark": "quality", "machine": machine_name(), "torch": torch.__version__,
              "samples": args.samples, "sampler": "DDIM, batched CFG", "model": "reference DiT (Fashion-MNIST)",
              "model_metadata": read_metadata(), "rows": rows}
    name = args.out or ("quality_quick" if args.quick else f"quality_{args.samples}")
    result["file"] = str(write_json(name, result).relative_to(RESULTS.parent.parent))
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
