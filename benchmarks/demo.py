"""`make demo`: calibrate an X-Slim plan for the reference model, optimize it, generate with full
compute and with X-Slim on the same seeds, print speed (interleaved timed rounds, median) and quality
(PSNR, SSIM and class agreement against full compute), and write the image grids and the step
timeline (with the plan's predicted error and both lines) as PNGs.

    python -m benchmarks.demo [--per-class 2] [--preset fast]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import xslim_compile as xs

from .common import RESULTS, keep_freed_memory, machine_name, time_rounds
from .metrics import class_accuracy, psnr, ssim
from .png import grid, write_png
from .reference.classifier import classify, load_classifier
from .reference.data import CLASS_NAMES, to_pixel_space
from .reference.model import NUM_CLASSES, load_dit, read_metadata
from .reference.sampler import DEFAULT_STEPS, sample


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=2)
    parser.add_argument("--preset", default="fast", choices=["slow", "fast"])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timed runs of each (median)")
    args = parser.parse_args(argv)
    allocator = keep_freed_memory()  # before any tensor: the same allocator for calibration and both rows

    model = load_dit()
    meta = read_metadata()
    print(f"reference model: DiT {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, "
          f"{model.config.num_layers} blocks, 256 tokens; trained {meta.get('step', '?')} steps "
          f"(class accuracy at that checkpoint: {meta.get('class_accuracy')})")
    print(f"calibrating the '{args.preset}' plan on 4 full-compute samples (seeds outside the demo's): profile, "
          f"sensitivity probes, candidate plans validated ...")
    start = time.perf_counter()
    plan = xs.calibrate(model, run=lambda m: sample(m, [0, 3, 6, 9], [9000, 9001, 9002, 9003]), preset=args.preset)
    print(f"calibrated in {time.perf_counter() - start:.0f} s")
    opt = xs.optimize(model, xs.XSlimConfig(plan=plan, check_finite=False))
    labels = [c for c in range(NUM_CLASSES) for _ in range(args.per_class)]
    seeds = list(range(100, 100 + len(labels)))
    # every row warmed the same way, at the timed batch: capture, building and verification of the
    # variants happen on first use of an input signature and are not part of the steady-state speed
    fast = sample(opt, labels, seeds, DEFAULT_STEPS)
    full = sample(model, labels, seeds, DEFAULT_STEPS, progress=True)
    rounds = time_rounds({"full": lambda: sample(model, labels, seeds, DEFAULT_STEPS),
                          "xslim": lambda: sample(opt, labels, seeds, DEFAULT_STEPS)}, args.rounds, torch.device("cpu"))
    seconds = {name: statistics.median(values) for name, values in rounds.items()}
    full_img, fast_img = to_pixel_space(full), to_pixel_space(fast)
    classifier = load_classifier()
    cls_full, cls_fast = classify(classifier, full_img)[0].numpy(), classify(classifier, fast_img)[0].numpy()
    variants = opt.trace.variants()[-DEFAULT_STEPS:]
    counts = {v: variants.count(v) for v in sorted(set(variants))}
    estimators = {k: v for k, v in plan.source["estimator_counts"].items() if v}
    speedup = seconds["full"] / seconds["xslim"]

    print(f"\nmachine: {machine_name()}; {len(labels)} samples, DDIM {DEFAULT_STEPS} steps, batched CFG; "
          f"allocator: {allocator}")
    print(f"X-Slim '{args.preset}' plan: {counts}; skips forecast with {estimators}")
    print(f"full compute : {seconds['full']:6.2f} s   class accuracy {class_accuracy(cls_full, labels):.3f}")
    print(f"X-Slim       : {seconds['xslim']:6.2f} s   class accuracy {class_accuracy(cls_fast, labels):.3f}")
    print(f"speedup      : {speedup:.2f}x wall clock (median of {args.rounds} interleaved rounds, same process); "
          f"ideal {plan.source['ideal_speedup']:.2f}x by measured step costs, {plan.source['flops_speedup']:.2f}x "
          f"by FLOPs; real/ideal {speedup / plan.source['ideal_speedup']:.2f} and "
          f"{speedup / plan.source['flops_speedup']:.2f}")
    print(f"fidelity     : PSNR {np.mean(np.minimum(psnr(fast_img, full_img), 100)):.2f} dB, "
          f"SSIM {np.mean(ssim(fast_img, full_img)):.3f} against full compute (same seeds); class agreement "
          f"{int((cls_fast == cls_full).sum())}/{len(labels)} samples")
    # one column per class, one row per sample of it
    order = [c * args.per_class + r for r in range(args.per_class) for c in range(NUM_CLASSES)]
    top, bottom = grid(full_img[order], NUM_CLASSES), grid(fast_img[order], NUM_CLASSES)
    spacer = np.full((12, top.shape[1]), 255, dtype=np.uint8)
    picture = np.concatenate([top, spacer, bottom])
    path = write_png(RESULTS / "demo_grid.png", picture)
    print(f"grid: {path} (top: full compute, bottom: X-Slim; columns: {', '.join(CLASS_NAMES)})")
    print(f"step timeline: {xs.plot_trace(opt.trace, RESULTS / 'demo_trace.png', title='X-Slim plan, reference DiT')}")


if __name__ == "__main__":
    main()
