"""Measured step costs: the variants a plan may use, timed on the calibration inputs' device.

Each variant runs warm (built and run twice first), then the variants are timed round-robin and the
median of `repeats` rounds is divided by full's. FLOPs are counted beside them for the report. Names:
full, skip (reuse), skip2 / skip3 (forecasts from 2 / 3 residuals), token, block.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from .forecast import HISTORY, WEIGHTS
from .plan import Variant
from .runtime.policies import token_bucket
from .runtime.variant_set import VariantKey


def variant_keys(variants, token_ratio: float | None, reuse: tuple[int, ...]) -> dict[str, VariantKey]:
    keys = {"full": VariantKey(Variant.FULL), "skip": VariantKey(Variant.SKIP),
            "skip2": VariantKey(Variant.SKIP, history=2), "skip3": VariantKey(Variant.SKIP, history=3)}
    if reuse:
        keys["block"] = VariantKey(Variant.BLOCK, reuse=tuple(reuse))
    if token_ratio is not None and variants.image_tokens > 0:
        keys["token"] = VariantKey(Variant.TOKEN, tokens=token_bucket(token_ratio, variants.image_tokens), history=2)
    return keys


def _inputs(variants) -> tuple[list, dict]:
    """The capture inputs and a full set of caches for every variant (values do not matter for time)."""
    args = variants.builder.args
    with torch.no_grad():
        _, caches = variants.get(VariantKey(Variant.FULL, residuals=True, kv=variants.image_tokens > 0
                                            and _has_token_plan(variants)))(args, {})
    for name, value in list(caches.items()):
        if name.startswith("delta."):
            for prefix in HISTORY[1:]:
                caches[f"{prefix}.{name[len('delta.'):]}"] = value.clone()
    device = next(iter(caches.values())).device
    caches[WEIGHTS] = torch.tensor([2.0, -1.0, 0.0], device=device)
    return args, caches


def _has_token_plan(variants) -> bool:
    try:
        variants.builder.token_plan
        return True
    except Exception:  # a model without token steps still gets the other costs
        return False


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_costs(variants, keys: dict[str, VariantKey], repeats: int = 5) -> tuple[dict[str, float], dict[str, float]]:
    """(time relative to full, FLOPs relative to full) per named variant; variants that cannot be built
    for this model are left out."""
    args, caches = _inputs(variants)
    device = args[0].device
    runs: dict[str, Callable] = {}
    for name, key in keys.items():
        try:
            compiled = variants.get(key)
        except Exception:  # e.g. token steps on a model whose attention cannot be rewritten
            continue
        feed = {**caches, WEIGHTS: caches[WEIGHTS][:key.history]} if key.history > 1 else caches
        runs[name] = (lambda c=compiled, f=feed: c(args, f))
    times: dict[str, list[float]] = {name: [] for name in runs}
    with torch.no_grad():
        for _ in range(2):
            for fn in runs.values():
                fn()
        for _ in range(repeats):
            for name, fn in runs.items():
                _sync(device)
                start = time.perf_counter()
                fn()
                _sync(device)
                times[name].append(time.perf_counter() - start)
        flops = {}
        for name, fn in runs.items():
            with FlopCounterMode(display=False) as counter:
                fn()
            flops[name] = float(counter.get_total_flops())
    full_time, full_flops = statistics.median(times["full"]), flops["full"]
    return ({name: statistics.median(t) / full_time for name, t in times.items()},
            {name: f / full_flops for name, f in flops.items()})
