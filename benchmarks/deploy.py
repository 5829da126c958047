"""The deployment bundle against the PyTorch runtime, in one process: per-variant latency of the
onnxruntime graph as a ratio of the PyTorch eager variant (same inputs, interleaved rounds, median),
the bundle's size against the weights, and the runner's resident memory after one generation (a
child process without torch). The onnxruntime sessions are the runner's own (shared weights, no
prepacking, no per-session arena).

    python -m benchmarks.deploy                 # reference model (CFG batch 40) and DiT-XL/2 width, 8 layers
    python -m benchmarks.deploy --tiny          # a tiny DiT: the same code paths, seconds (make test)
    python -m benchmarks.deploy --pt2-only      # pt2 parity alone: reference model, tiny SD3 and FLUX

Each model runs one generation of a schedule that uses every variant kind (full, skip with taylor1,
block with half the blocks reused, token at r = 0.5), is exported with xs.export, and each exported
variant is then timed both ways on the inputs that generation gave it. The pt2 section exports the
same generation as AOTInductor packages, loads them with xs.load and repeats it (trace, max error).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import xslim_compile as xs
from xslim_compile.bundle.manifest import key_dict
from xslim_compile.runtime.variant_set import CompiledVariant

from .common import display_path, machine_name, result_path, time_interleaved, write_json

SCHEDULE = ["full", "full", "skip", "block", "token", "full", "skip"]
STEP_TIMES = [900.0 - 100 * t for t in range(len(SCHEDULE))]

MEMORY_PROBE = """
import sys
sys.modules["torch"] = None
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) * 1024
import numpy as np, onnxruntime  # noqa: E401
from xslim_compile.deploy import Runner
before = rss()
runner = Runner(sys.argv[1])
data = np.load(sys.argv[2])
with runner.generation(int(data["steps"])):  # one generation: every session opened, every weight touched
    for t in data["timesteps"]:
        runner(hidden_states=data["hidden_states"], class_labels=data["class_labels"],
               timestep=np.full(data["class_labels"].shape, t, dtype=np.float32))
print(rss() - before)
"""


def models(tiny: bool):
    if tiny:
        from tests.zoo import dit_inputs, make_dit

        yield "tiny DiT (4 blocks)", make_dit(), dit_inputs()
        return
    from .reference.model import load_dit
    from .variant_latency import build_model

    g = torch.Generator().manual_seed(0)
    yield ("reference DiT (12 blocks, CFG batch 40)", load_dit(),
           dict(hidden_states=torch.randn(40, 1, 32, 32, generator=g), timestep=torch.full((40,), 500.0),
                class_labels=torch.arange(40) % 11))
    yield ("DiT-XL/2 width, 8 layers, batch 2", build_model(8, torch.float32, "cpu"),
           dict(hidden_states=torch.randn(2, 4, 32, 32, generator=g), timestep=torch.full((2,), 500.0),
                class_labels=torch.arange(2)))


def measure(name: str, model, inputs: dict, rounds: int, workdir: Path) -> dict:
    from xslim_compile.deploy import Runner

    blocks = len(model.transformer_blocks)
    opt = xs.optimize(model, xs.XSlimConfig(schedule=SCHEDULE, estimator="taylor1",
                                            block_reuse=tuple(range(blocks // 2, blocks))))
    calls, original = {}, CompiledVariant.__call__

    def record(self, tensors, caches):  # the inputs each variant got in the generation (last call wins)
        calls[self.key] = ([t.clone() for t in tensors], {n: caches[n].clone() for n in self.cache_inputs})
        return original(self, tensors, caches)

    CompiledVariant.__call__ = record
    try:
        with torch.no_grad(), opt.generation(len(SCHEDULE)):
            for t in STEP_TIMES:
                opt(**{**inputs, "timestep": torch.full_like(inputs["timestep"], t)})
    finally:
        CompiledVariant.__call__ = original
    path = xs.export(opt, workdir / name.split()[0].replace("/", "_"))
    manifest = json.loads((path / "manifest.json").read_text())
    entries = {json.dumps(v["key"], sort_keys=True): v for s in manifest["signatures"] for v in s["variants"]}
    variants = next(iter(opt._variant_sets.values())).built()
    runner = Runner(path)  # its sessions, as deployed: shared weights, no prepacking, no arena
    fns, rows = {}, {}
    for key, compiled in variants.items():
        if key not in calls:
            continue  # exported as a fallback (a shorter forecast); the generation did not run it
        entry = entries[json.dumps(key_dict(key), sort_keys=True)]
        tensors, caches = calls[key]
        session = runner._session(entry["file"])
        feed = dict(zip([s["name"] for s in entry["inputs"]], [t.numpy() for t in tensors + list(caches.values())]))
        feed = {i.name: feed[i.name] for i in session.get_inputs()}
        with torch.no_grad():
            fns[f"{key}|torch"] = lambda c=compiled, t=tensors, k=caches: c(t, k)
        fns[f"{key}|onnxruntime"] = lambda s=session, f=feed: s.run(None, f)
        rows[str(key)] = {"file": entry["file"]}
    with torch.no_grad():
        seconds = time_interleaved(fns, rounds, torch.device("cpu"))
    for key, row in rows.items():
        row["torch_ms"] = round(seconds[f"{key}|torch"] * 1e3, 3)
        row["onnxruntime_ms"] = round(seconds[f"{key}|onnxruntime"] * 1e3, 3)
        row["ratio"] = round(seconds[f"{key}|onnxruntime"] / seconds[f"{key}|torch"], 4)
    weights = manifest["weights"]
    bundle_bytes = sum(p.stat().st_size for p in path.iterdir())
    np.savez(workdir / "steps.npz", steps=len(SCHEDULE), timesteps=np.array(STEP_TIMES, dtype=np.float32),
             hidden_states=inputs["hidden_states"].numpy(), class_labels=inputs["class_labels"].numpy())
    memory = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), str(workdir / "steps.npz")],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    runner_bytes = int(memory.stdout.strip()) if memory.returncode == 0 else None
    return {"model": name, "parameter_bytes": weights["parameter_bytes"], "weights_bin_bytes": weights["bytes"],
            "bundle_bytes": bundle_bytes, "bundle_over_weights": round(bundle_bytes / weights["parameter_bytes"], 4),
            "graphs": len(rows), "runner_rss_bytes": runner_bytes,
            "runner_over_weights": round(runner_bytes / weights["parameter_bytes"], 4) if runner_bytes else None,
            "runner_error": memory.stderr[-2000:] if memory.returncode else None,
            "variants": rows}


def pt2_parity(name: str, model, inputs: dict, workdir: Path, scale: float = 1.0) -> dict:
    """A generation through xs.load(format="pt2") against the module it was exported from (scale:
    of the timesteps, 1/1000 for flow models that take t in [0, 1])."""
    blocks = len(getattr(model, "transformer_blocks", [])) + len(getattr(model, "single_transformer_blocks", []))
    opt = xs.optimize(model, xs.XSlimConfig(schedule=SCHEDULE, estimator="taylor1", block_reuse=(blocks - 1,)))

    def generate(module):
        with torch.no_grad(), module.generation(len(SCHEDULE)):
            return [module(**{**inputs, "timestep": torch.full_like(inputs["timestep"], t * scale)}).sample
                    for t in STEP_TIMES]

    expected = generate(opt)
    path = xs.export(opt, workdir / ("pt2_" + re.sub(r"[^A-Za-z0-9]+", "_", name)), format="pt2")
    loaded = xs.load(path, model)
    got = generate(loaded)
    trace = [r.variant for r in list(opt.trace)[-len(SCHEDULE):]]
    return {"model": name, "same_trace": [r.variant for r in list(loaded.trace)] == trace, "variants": trace,
            "max_rel_err": max(float((a - b).abs().max()) / float(b.abs().max()) for a, b in zip(got, expected))}


def pt2_models(tiny: bool):
    from tests.zoo import flux_inputs, make_flux, make_sd3, sd3_inputs

    if not tiny:
        name, model, inputs = next(models(False))
        yield name, model, inputs, 1.0
    yield "tiny SD3", make_sd3(), sd3_inputs(), 1.0
    yield "tiny FLUX", make_flux(), flux_inputs(), 1e-3  # FLUX takes t in [0, 1] (x 1000 inside)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", default=None, help="a name (written to benchmarks/results/) or a path")
    parser.add_argument("--pt2-only", action="store_true", help="only the pt2 parity section (AOTInductor, slow)")
    parser.add_argument("--no-pt2", action="store_true", help="skip the pt2 parity section")
    args = parser.parse_args(argv)
    result = {"benchmark": "deploy", "machine": machine_name(), "torch": torch.__version__,
              "onnxruntime": __import__("onnxruntime").__version__, "schedule": SCHEDULE,
              "statistic": f"median of {args.rounds} interleaved rounds", "models": []}
    with tempfile.TemporaryDirectory() as workdir:
        for name, model, inputs in ([] if args.pt2_only else models(args.tiny)):
            result["models"].append(measure(name, model, inputs, args.rounds, Path(workdir)))
        if not args.no_pt2:
            result["pt2"] = [pt2_parity(name, model, inputs, Path(workdir), scale)
                             for name, model, inputs, scale in pt2_models(args.tiny)]
    path = result_path(args.out, "deploy_cpu_tiny" if args.tiny else "deploy_cpu_pt2" if args.pt2_only else "deploy_cpu")
    result["file"] = display_path(write_json(path, result))
    for entry in result["models"]:
        print(f"{entry['model']}: bundle {entry['bundle_over_weights']:.3f}x the weights, runner memory "
              f"{entry['runner_over_weights']}x")
        for key, row in entry["variants"].items():
            print(f"  {key:28s} torch {row['torch_ms']:9.2f} ms  onnxruntime {row['onnxruntime_ms']:9.2f} ms  "
                  f"ratio {row['ratio']:.3f}")
    for entry in result.get("pt2", []):
        print(f"pt2 {entry['model']}: same trace {entry['same_trace']}, max rel. err {entry['max_rel_err']:.1e}")
    return result


if __name__ == "__main__":
    main()
