"""Quality and speed of acceleration methods on the reference model, against full compute, same seeds.

    python -m benchmarks.quality --samples 1000          # every method (hours on 2 CPU cores)
    python -m benchmarks.quality --quick                 # a smoke run of a few methods (minutes)
    python -m benchmarks.quality --families full steps xslim --samples 200
    python -m benchmarks.quality --replot benchmarks/results/quality_1000_cpu.json   # tables and plots only
    python -m benchmarks.quality --samples 500 --resume quality_500_cpu   # finish an interrupted run

Every method generates the same (class, seed) pairs (seeds 0..N-1) with DDIM-50 and batched CFG
(step-count methods use fewer steps). Methods come in families, each swept over settings spanning about
2x-6x FLOPs speedup; threshold-based methods get, per target speedup, the threshold that reaches it on
the validation seeds (20000..), chosen by bisection. X-Slim plans are calibrated on seeds 10000...

Per method: FLOPs per sample counted over the scored generations themselves, and wall-clock measured
after one untimed warm-up generation per method, by interleaved rounds over all methods (full compute
among them, odd rounds in reverse order) of one timing batch each; the median round counts. glibc keeps
freed memory for the whole run (common.keep_freed_memory: page faults otherwise cost ~10% and differ
between modules doing the same work). Quality against full compute of the same
seeds: PSNR/SSIM, paired class agreement; against the Fashion-MNIST test set: FD on the classifier's
features (with a bootstrap SE), KID on EffNet features, class accuracy. FD-EffNet only from >= 5000
samples. Then each family's Pareto frontier per metric, and X-Slim against the others (benchmarks.pareto).
"""
from __future__ import annotations

import argparse
import json
import statistics
import traceback
from functools import partial

import numpy as np
import torch
from tqdm import tqdm

import xslim_compile as xs

from . import pareto
from .common import counted, display_path, keep_freed_memory, machine_name, result_path, time_rounds, write_json
from .methods import (CALIBRATION_SEEDS, PEERS_UNAVAILABLE, VALIDATION_SEEDS, Calibrations, Method, all_methods,
                      built_variants, describe, make_denoiser, select_methods, unavailable_reason)
from .metrics import (class_accuracy, feature_stats, frechet_distance, frechet_distance_se, kid, mean_se,
                      paired_agreement, psnr, ssim)
from .reference.data import to_pixel_space
from .reference.features import classifier_features, effnet_features, load_effnet, load_stats
from .reference.model import NUM_CLASSES, load_dit, read_metadata
from .reference.sampler import DEFAULT_GUIDANCE, sample
from .tuning import Measurements, choose_threshold

# two points each for X-Slim and step reduction, so that the Pareto comparison has something to compare
QUICK = ("full", "xslim_full", "steps_25", "steps_12", "uniform_3", "xslim_3x", "xslim_fast", "fbcache_3x")
QUICK_SETTINGS = dict(samples=10, time_batch=10, rounds=2, validation=4)
WALL_OVER_FLOPS = 1.05   # wall speedup above FLOPs speedup by more than this: a measurement to explain


def pairs(seeds: list[int]) -> tuple[list[int], list[int]]:
    return [i % NUM_CLASSES for i in range(len(seeds))], list(seeds)


def generate_counted(denoiser, labels, seeds, batch: int, num_steps: int, desc: str) -> tuple[np.ndarray, int]:
    """Images of every (label, seed) and the FLOPs spent on them. A batch during which an xslim module
    captured or built a graph is counted again (warm, same result): building is not the method's cost."""
    images, flops = [], 0
    for i in tqdm(range(0, len(labels), batch), desc=desc, leave=False):
        call = partial(sample, denoiser, labels[i:i + batch], seeds[i:i + batch], num_steps=num_steps)
        for attempt in range(3):
            before = built_variants(denoiser)
            count, x = counted(call)
            if built_variants(denoiser) == before:
                break
            if attempt == 2:
                tqdm.write(f"{desc}: still building graphs on a third pass; its FLOPs include building")
        flops += count
        images.append(to_pixel_space(x))
    return np.concatenate(images), flops


def score(images: np.ndarray, labels: list[int], reference: dict | None, stats: dict, effnet) -> tuple[dict, np.ndarray]:
    """(metrics, predicted classes). `reference`: full compute's {"images", "predicted"} on the same
    seeds; None when these images are full compute's own."""
    predicted, feats = classifier_features(images)
    reference = reference or {"images": images, "predicted": predicted}
    mu_ref, cov_ref = stats["classifier_mu"].astype(np.float64), stats["classifier_cov"].astype(np.float64)
    eff = effnet_features(effnet, images)
    p = np.minimum(psnr(images, reference["images"]), 100.0)  # identical samples count as 100 dB
    agree = paired_agreement(predicted, reference["predicted"])
    out = {"psnr": float(p.mean()), "psnr_se": mean_se(p), "ssim": float(np.mean(ssim(images, reference["images"]))),
           "paired_agreement": float(agree.mean()), "paired_agreement_se": mean_se(agree),
           "class_accuracy": class_accuracy(predicted, labels),
           "fd_classifier": frechet_distance(*feature_stats(feats), mu_ref, cov_ref),
           "fd_classifier_se": frechet_distance_se(feats, mu_ref, cov_ref),
           "kid_effnet": kid(eff, stats["effnet_kid_features"].astype(np.float32), subset_size=min(500, len(images)))}
    if len(images) >= 5000:
        out["fd_effnet"] = frechet_distance(*feature_stats(eff), stats["effnet_mu"].astype(np.float64),
                                            stats["effnet_cov"].astype(np.float64))
    return out, predicted


class Run:
    """One benchmark run: the shared model and references, the rows so far, the live denoisers."""

    def __init__(self, args, device: torch.device) -> None:
        self.args, self.device = args, device
        allocator = keep_freed_memory()  # before any tensor: every row and calibration alike
        self.model, self.stats, self.effnet = load_dit().to(device), load_stats(), load_effnet().to(device)
        self.plans = Calibrations(self.model)
        self.labels, self.seeds = pairs(list(range(args.samples)))
        self.timing = pairs(list(range(args.time_batch)))          # the first evaluation pairs
        self.validation = pairs(VALIDATION_SEEDS[:args.validation])
        self.full_flops: float | None = None                        # per sample
        self.reference: dict | None = None
        self.denoisers: dict[str, tuple[torch.nn.Module, int]] = {}
        self.measurements: dict[tuple, Measurements] = {}
        selected = {m.name for m in args.selected}
        self.path = result_path(args.out, "quality_quick" if args.quick else f"quality_{args.samples}_{device.type}")
        self.result = {
            "benchmark": "quality", "machine": machine_name(device), "torch": torch.__version__,
            "samples": args.samples, "sampler": f"DDIM, batched CFG {DEFAULT_GUIDANCE}",
            "model": "reference DiT (Fashion-MNIST)", "model_metadata": read_metadata(),
            "seeds": {"evaluation": f"0..{args.samples - 1}", "calibration": CALIBRATION_SEEDS,
                      "validation": self.validation[1]},
            "timing": {"batch": args.time_batch, "rounds": args.rounds, "statistic": "median over rounds",
                       "order": "interleaved, odd rounds reversed", "allocator": allocator,
                       "warmup": "one untimed generation of the timing batch per method", "done": False},
            "peers": PEERS_UNAVAILABLE or "available", "complete": False,
            "rows": [], "tuning": {}, "unreachable": [], "unavailable": [], "failed": [], "plans": {},
            # methods this run was not asked for (--methods/--families): "complete" covers the others only
            "not_selected": [m.name for m in all_methods() if m.name not in selected]}
        self.kept: dict[str, dict] = {}   # rows scored by the run this one resumes
        self.pending: list[str] = []      # the methods a resumed run still has to score
        if args.resume:
            self.resume(result_path(args.resume, args.resume))

    def resume(self, path) -> None:
        """Continue an earlier run of the same benchmark: its scored rows are kept, their denoisers rebuilt
        (same plans, same thresholds) for the timing, which covers every row again; full compute runs
        again (its images are the reference of the new rows) and must reproduce its kept row."""
        previous = json.loads(path.read_text())
        for key in ("samples", "sampler", "model_metadata", "seeds"):
            if previous.get(key) != json.loads(json.dumps(self.result[key])):
                raise SystemExit(f"--resume {display_path(path)}: its {key} differs from this run's "
                                 f"({previous.get(key)!r} vs {self.result[key]!r})")
        self.kept = {row["method"]: row for row in previous["rows"]}
        self.result["tuning"], self.result["unreachable"] = previous["tuning"], previous["unreachable"]
        self.plans.saved = previous["plans"]
        self.result["resumed_from"] = {"file": display_path(path), "machine": previous["machine"],
                                       "kept": sorted(self.kept)}
        done = set(self.kept) | {e["method"] for e in previous["unreachable"]}
        self.pending = [m.name for m in self.args.selected if m.name not in done]
        tqdm.write(f"resuming {display_path(path)}: {len(self.kept)} rows kept, {len(self.pending)} methods to run")

    def save(self) -> None:
        self.result["plans"] = self.plans.to_dict()
        write_json(self.path, self.result)

    # --- one method -------------------------------------------------------------------------------
    def run(self, method: Method) -> None:
        if method.name in self.kept and (method.name != "full" or not self.pending):
            self.restore(method)
            self.save()
            return
        if self.kept and method.name not in self.pending and method.name != "full":
            return  # unreachable in the resumed run; its entry is kept
        reason = unavailable_reason(method)
        if reason is not None:
            self.result["unavailable"].append({"method": method.name, "reason": reason})
            tqdm.write(f"{method.name}: unavailable ({reason})")
            return
        try:
            settings = self.settings_for(method)
            if settings is not None:
                self.evaluate(method, settings)
        except Exception as error:  # noqa: BLE001 - one broken method must not lose the others' results
            if method.name == "full":
                raise
            self.fail(method, error)
        self.save()

    def restore(self, method: Method) -> None:
        row = {k: v for k, v in self.kept[method.name].items()
               if k not in ("ms_per_sample", "ms_per_sample_rounds", "speedup_wall", "wall_exceeds_flops")}
        settings = dict(method.settings)
        if method.tune is not None:
            settings[method.tune] = self.result["tuning"][method.name]["threshold"]
        denoiser = make_denoiser(method, self.model, self.plans, settings)
        sample(denoiser, *self.timing, num_steps=method.num_steps)    # warm-up: capture, build, verify
        if method.name == "full":
            self.full_flops = row["flops_per_sample"]
        self.result["rows"].append(row)
        self.denoisers[method.name] = (denoiser, method.num_steps)
        tqdm.write(f"{method.name}: kept from the resumed run")

    def check_reproduced(self, row: dict) -> None:
        kept = self.kept.get(row["method"])
        for key in ("fd_classifier", "class_accuracy", "flops_per_sample"):
            if kept is not None and abs(row[key] - kept[key]) > 1e-4 * max(1.0, abs(kept[key])):
                raise SystemExit(f"{row['method']} does not reproduce the resumed run's {key} "
                                 f"({row[key]} vs {kept[key]}): its kept rows were scored against another reference")

    def fail(self, method: Method, error: Exception) -> None:
        if isinstance(error, xs.ConfigError) and method.target_speedup is not None:
            self.result["unreachable"].append({"method": method.name, "target": method.target_speedup,
                                               "reason": str(error)})
            tqdm.write(f"{method.name}: target {method.target_speedup:g}x unreachable ({error})")
            return
        self.result["failed"].append({"method": method.name, "error": f"{type(error).__name__}: {error}",
                                      "traceback": traceback.format_exc(limit=-4)})
        tqdm.write(f"{method.name}: FAILED {type(error).__name__}: {error}")

    def settings_for(self, method: Method) -> dict | None:
        """The method's settings, with a tuned threshold where it has one (None: target unreachable)."""
        if method.tune is None:
            return dict(method.settings)
        record = self.tune(method)
        self.result["tuning"][method.name] = record
        if not record["reachable"]:
            self.result["unreachable"].append({"method": method.name, "target": method.target_speedup,
                                               "reason": record["note"]})
            tqdm.write(f"{method.name}: {record['note']}")
            return None
        return {**method.settings, method.tune: record["threshold"]}

    def tune(self, method: Method) -> dict:
        key = (method.family, repr(sorted(method.settings.items())))
        if key not in self.measurements:
            self.measurements[key] = Measurements(partial(self.validation_speedup, method))
        record = choose_threshold(method.target_speedup, self.measurements[key])
        return {"key": method.tune, "seeds": len(self.validation[1]), **record}

    def validation_speedup(self, method: Method, threshold: float) -> float:
        denoiser = make_denoiser(method, self.model, self.plans, {**method.settings, method.tune: threshold})
        labels, seeds = self.validation
        _, flops = generate_counted(denoiser, labels, seeds, len(seeds), method.num_steps,
                                    f"{method.name} @ {threshold:.4g}")
        return self.full_flops * len(seeds) / flops

    def evaluate(self, method: Method, settings: dict) -> None:
        denoiser = make_denoiser(method, self.model, self.plans, settings)
        sample(denoiser, *self.timing, num_steps=method.num_steps)    # warm-up: capture, build, verify
        images, flops = generate_counted(denoiser, self.labels, self.seeds, self.args.batch, method.num_steps,
                                         method.name)
        per_sample = flops / len(images)
        if method.name == "full":
            self.full_flops = per_sample
        metrics, predicted = score(images, self.labels, self.reference, self.stats, self.effnet)
        if method.name == "full":
            self.reference = {"images": images, "predicted": predicted}
        row = {"method": method.name, "family": method.family, "steps": method.num_steps,
               "settings": _jsonable(settings), "target_speedup": method.target_speedup,
               "flops_per_sample": per_sample, "speedup_flops": self.full_flops / per_sample}
        if method.tune is not None:
            row["validation_speedup_flops"] = self.result["tuning"][method.name]["speedup"]
        if method.calibrate_kwargs:
            row["calibrate_kwargs"] = _jsonable(method.calibrate_kwargs)
        if (text := describe(method, settings)) is not None:
            row["description"] = text
        if hasattr(denoiser, "trace"):
            used = denoiser.trace.variants()[-method.num_steps:]
            row["variants"] = {v: used.count(v) for v in sorted(set(used))}
        row.update(metrics)
        if method.name == "full":
            self.check_reproduced(row)
        self.result["rows"].append(row)
        self.denoisers[method.name] = (denoiser, method.num_steps)
        tqdm.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()
                               if k not in ("settings", "description")}))

    # --- wall clock, all methods together ---------------------------------------------------------
    def time_all(self) -> None:
        calls = {name: partial(sample, d, *self.timing, num_steps=steps) for name, (d, steps) in self.denoisers.items()}
        rows = {row["method"]: row for row in self.result["rows"]}

        def record(r: int, seconds: dict[str, list[float]]) -> None:
            for name, values in seconds.items():
                rows[name]["ms_per_sample_rounds"] = [round(v * 1e3 / self.args.time_batch, 3) for v in values]
            self.result["timing"]["rounds_done"] = r + 1
            self.save()

        tqdm.write(f"timing {len(calls)} methods: {self.args.rounds} interleaved rounds of "
                   f"{self.args.time_batch} samples")
        seconds = time_rounds(calls, self.args.rounds, self.device, on_round=record)
        median = {name: statistics.median(values) / self.args.time_batch for name, values in seconds.items()}
        for name, row in rows.items():
            row["ms_per_sample"] = round(median[name] * 1e3, 3)
            row["speedup_wall"] = median["full"] / median[name]
        self.result["timing"]["done"] = True
        self.flag_wall_over_flops(rows)

    def flag_wall_over_flops(self, rows: dict[str, dict]) -> None:
        overhead = rows.get("xslim_full", {}).get("speedup_wall")
        note = "" if overhead is None else f"; xslim_full (every step full, captured graph) runs at {overhead:.2f}x"
        for row in rows.values():
            row["wall_exceeds_flops"] = row["speedup_wall"] > WALL_OVER_FLOPS * row["speedup_flops"]
            if row["wall_exceeds_flops"]:
                tqdm.write(f"WARNING {row['method']}: wall-clock speedup {row['speedup_wall']:.2f}x exceeds its "
                           f"FLOPs speedup {row['speedup_flops']:.2f}x by more than 5%{note}")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1000, help="evaluation seeds 0..N-1")
    parser.add_argument("--batch", type=int, default=100, help="batch of the scored generations")
    parser.add_argument("--methods", nargs="*", default=None, help="method names to run, in this order")
    parser.add_argument("--families", nargs="*", default=None, help="families to run (after --methods), in this order")
    parser.add_argument("--time-batch", type=int, default=20, help="samples per timed generation (make demo's 20)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds; the median counts")
    parser.add_argument("--validation", type=int, default=len(VALIDATION_SEEDS),
                        help=f"validation seeds for threshold choice (at most {len(VALIDATION_SEEDS)})")
    parser.add_argument("--quick", action="store_true",
                        help=f"{', '.join(QUICK)} with {QUICK_SETTINGS} (unless given)")
    parser.add_argument("--out", default=None, help="a name (written to benchmarks/results/) or a path")
    parser.add_argument("--replot", metavar="FILE.json", default=None,
                        help="print the tables and redraw the plots of a saved run; run nothing")
    parser.add_argument("--resume", metavar="FILE", default=None,
                        help="keep the scored rows of this earlier run (same samples and seeds), run the others, "
                             "then time every row; --out defaults to it")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if args.quick:
        defaults = {a.dest: a.default for a in parser._actions}
        for key, value in QUICK_SETTINGS.items():
            if getattr(args, key) == defaults[key]:
                setattr(args, key, value)
        if args.methods is None and args.families is None:
            args.methods = list(QUICK)
    if args.resume and args.out is None:
        args.out = args.resume
    if not 1 <= args.validation <= len(VALIDATION_SEEDS):
        parser.error(f"--validation must be in 1..{len(VALIDATION_SEEDS)}")
    try:
        args.selected = select_methods(args.methods, args.families)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.replot:
        return replot(args.replot)
    device = torch.device(args.device)
    run = Run(args, device)
    for method in tqdm(args.selected, desc="methods"):
        run.run(method)
    run.time_all()
    finish(run.result, run.path)
    run.result["complete"] = True
    run.save()
    run.result["file"] = display_path(run.path)
    return run.result


def finish(result: dict, path) -> None:
    """Tables, Pareto comparison and plots of a run (fresh or loaded)."""
    print(format_table(result["rows"]))
    for entry in result.get("unreachable", []):
        print(f"unreachable: {entry['method']} ({entry['reason']})")
    for entry in result.get("unavailable", []) + result.get("failed", []):
        print(f"not run: {entry['method']} ({entry.get('reason') or entry.get('error')})")
    result["pareto"] = pareto.compare(result["rows"])
    print("\n" + pareto.format_comparison(result["pareto"]))
    plots = pareto.plot(result["rows"], path.stem, path.parent)
    result["plots"] = [display_path(p) for p in plots]
    print("plots: " + ", ".join(result["plots"]))


def replot(file: str) -> dict:
    path = result_path(file, file)
    result = json.loads(path.read_text())
    finish(result, path)
    return result


def format_table(rows: list[dict]) -> str:
    cols = [("method", "{}"), ("family", "{}"), ("speedup_wall", "{:.2f}x"), ("speedup_flops", "{:.2f}x"),
            ("ms_per_sample", "{:.1f}"), ("psnr", "{:.2f}"), ("ssim", "{:.3f}"), ("paired_agreement", "{:.3f}"),
            ("fd_classifier", "{:.1f}"), ("fd_classifier_se", "±{:.1f}"), ("kid_effnet", "{:.4f}"),
            ("class_accuracy", "{:.3f}")]
    lines = [[c for c, _ in cols]] + [[f.format(r[c]) if r.get(c) is not None else "-" for c, f in cols] for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in lines)


if __name__ == "__main__":
    main()
