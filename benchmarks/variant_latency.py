"""Latency of every variant as a ratio of `full`, at DiT-XL/2 width, in one process.

    python -m benchmarks.variant_latency                    # CPU: 8 layers, fp32, eager
    python -m benchmarks.variant_latency --device cuda --layers 28 --dtype bfloat16 --backend inductor

Random weights (no pretrained DiT here): latency does not depend on weight values. Expected: skip
below 0.05 of full; a block variant computing k of L blocks within ±0.10 of
(prologue + epilogue) + k/L × stack, where prologue + epilogue is the skip variant's share. Token
steps at r = 0.5 and 0.25 are reported with their FLOPs share, and beside them the share of the
block's GEMMs alone at the token step's row counts ("gemm_share"): where that is above the FLOPs
share, the BLAS runs the smaller matrices less efficiently (threads split fewer rows), which no graph
change removes. `--threads` sets torch's intra-op threads (default: torch's own choice).
"""
from __future__ import annotations

import argparse
import json
import re

import torch
from diffusers import DiTTransformer2DModel

import xslim_compile as xs
from xslim_compile.plan import Variant
from xslim_compile.runtime.variant_set import VariantKey

from .common import count_flops, display_path, keep_freed_memory, machine_name, result_path, time_interleaved, write_json


def build_model(layers: int, dtype: torch.dtype, device: str) -> DiTTransformer2DModel:
    torch.manual_seed(0)
    model = DiTTransformer2DModel(num_attention_heads=16, attention_head_dim=72, in_channels=4, out_channels=8,
                                  num_layers=layers, sample_size=32, patch_size=2, num_embeds_ada_norm=1000)
    return model.to(device=device, dtype=dtype).eval()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--backend", default="eager", choices=["eager", "inductor"])
    parser.add_argument("--compile-mode", default=None)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--only", nargs="*", default=None,
                        help="time only these variants (besides full and skip, the baselines); compiling each one costs a minute at 28 layers")
    parser.add_argument("--profile", action="store_true",
                        help="(CPU) per-op time of the token variants beyond full's scaled by their FLOPs share")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    parser.add_argument("--out", default=None, help="results file name (default from the settings)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    allocator = keep_freed_memory() if args.device == "cpu" else None

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    model = build_model(args.layers, dtype, args.device)
    L = args.layers
    computed = sorted({L, max(1, 3 * L // 4), max(1, L // 2), max(1, L // 4)})
    reuse_sets = {k: tuple(range(k, L)) for k in computed if k < L}  # compute the first k, reuse the rest
    opt = xs.optimize(model, xs.XSlimConfig(backend=args.backend, compile_mode=args.compile_mode))
    g = torch.Generator().manual_seed(0)
    inputs = dict(hidden_states=torch.randn(args.batch, 4, 32, 32, generator=g).to(device, dtype),
                  timestep=torch.full((args.batch,), 500.0, device=device),
                  class_labels=torch.arange(args.batch, device=device) % 1000)
    opt(**inputs)  # capture
    variants = next(iter(opt._variant_sets.values()))
    tensors = variants.builder.args
    full_all = VariantKey(Variant.FULL, residuals=True, kv=True)
    _, caches = variants.get(full_all)(tensors, {})
    caches["delta_prev.hidden_states"] = torch.zeros_like(caches["delta.hidden_states"])
    keys = {"full": VariantKey(Variant.FULL), "skip": VariantKey(Variant.SKIP)}
    keys.update({f"block_{k}_of_{L}": VariantKey(Variant.BLOCK, reuse=reuse) for k, reuse in reuse_sets.items()})
    keys.update({f"token_{r}": VariantKey(Variant.TOKEN, tokens=round(r * 256)) for r in (0.5, 0.25)})
    keys.update({"full+residuals": VariantKey(Variant.FULL, residuals=True),
                 "full+kv": VariantKey(Variant.FULL, kv=True)})
    if args.only is not None:
        keys = {name: key for name, key in keys.items() if name in ("full", "skip") or name in args.only}
    runners = {name: (lambda key=key: variants.get(key)(tensors, caches)) for name, key in keys.items()}
    with torch.no_grad():
        for run in runners.values():
            run()  # build, verify (and compile) outside the timing
        flops = {name: count_flops(run) for name, run in runners.items()}
        seconds = time_interleaved(runners, args.repeats, device)
        gemm = gemm_shares(args.batch * 256, (0.5, 0.25), args.repeats, device, dtype)
        shares = {name: v / flops["full"] for name, v in flops.items()}
        profiled = ({name: op_excess(runners["full"], runners[name], shares[name])
                     for name in runners if name.startswith("token")} if args.profile else None)

    full_s = seconds["full"]
    ratio = {name: s / full_s for name, s in seconds.items()}
    outside = ratio["skip"]
    result = {
        "benchmark": "variant_latency", "machine": machine_name(device), "device": str(device),
        "torch": torch.__version__, "backend": args.backend, "allocator": allocator,
        "compile_mode": args.compile_mode, "dtype": args.dtype,
        "model": {"class": "DiTTransformer2DModel", "hidden": 1152, "heads": 16, "head_dim": 72,
                  "layers": L, "tokens": 256, "batch": args.batch, "weights": "random"},
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "full_ms": round(full_s * 1e3, 3),
        "ratio_of_full": {k: round(v, 4) for k, v in ratio.items()},
        "flops_ratio_of_full": {k: round(v / flops["full"], 4) for k, v in flops.items()},
        "gemm_share": gemm,
        **({"op_excess": profiled} if profiled is not None else {}),
        "cache_bytes_returned": {name: variants.get(key).cache_bytes for name, key in keys.items()},
        "cache_bytes_per_branch_with_all_caches": sum(t.numel() * t.element_size() for t in caches.values()),
        "block_expected": {}, "checks": {"skip_below_0.05": ratio["skip"] < 0.05},
    }
    for name in ratio:
        match = re.fullmatch(r"block_(\d+)_of_(\d+)", name)
        if match:
            k = int(match.group(1))
            expected = outside + k / L * (1 - outside)
            result["block_expected"][name] = round(expected, 4)
            result["checks"][f"{name}_within_0.10"] = abs(ratio[name] - expected) <= 0.10
    path = result_path(args.out, f"variant_latency_{device.type}_{args.dtype}_{args.backend}_L{L}")
    result["file"] = display_path(write_json(path, result))
    print(json.dumps(result, indent=2))
    return result


def gemm_shares(rows: int, ratios: tuple[float, ...], repeats: int, device: torch.device, dtype: torch.dtype) -> dict:
    """Time of one DiT-XL/2 block's GEMMs (q, k, v, out: 1152x1152; MLP 1152x4608 and back) at
    rows * r rows, as a share of their time at all rows: what the token step's GEMMs can reach."""
    g = torch.Generator().manual_seed(0)
    weights = [torch.randn(a, b, generator=g).to(device, dtype) for a, b in [(1152, 1152)] * 4 + [(1152, 4608), (4608, 1152)]]
    counts = {1.0: rows, **{r: round(r * rows) for r in ratios}}
    inputs = {r: [torch.randn(m, w.shape[0], generator=g).to(device, dtype) for w in weights] for r, m in counts.items()}
    fns = {r: (lambda xs=xs: [x @ w for x, w in zip(xs, weights)]) for r, xs in inputs.items()}
    seconds = time_interleaved(fns, max(repeats, 5), device)
    return {f"token_{r}": round(seconds[r] / seconds[1.0], 4) for r in ratios}


def op_excess(full, variant, share: float, calls: int = 3, top: int = 8) -> dict:
    """Where a variant's time goes beyond `share` of full's: per operator, its self time minus share x
    full's, as a fraction of full's total (the largest first; "rest": the others together)."""
    from torch.profiler import ProfilerActivity, profile

    times = []
    for fn in (full, variant):
        with profile(activities=[ProfilerActivity.CPU]) as p:  # CPU self time: meaningful on the CPU only
            for _ in range(calls):
                fn()
        times.append({e.key: e.self_cpu_time_total for e in p.key_averages()})
    base, mine = times
    total = sum(base.values())
    excess = {op: (mine.get(op, 0.0) - share * base.get(op, 0.0)) / total for op in set(base) | set(mine)}
    ranked = sorted(excess.items(), key=lambda kv: -kv[1])
    out = {op: round(v, 4) for op, v in ranked[:top]}
    out["rest"] = round(sum(v for _, v in ranked[top:]), 4)
    out["variant_share_profiled"] = round(sum(mine.values()) / total, 4)
    return out


if __name__ == "__main__":
    main()
