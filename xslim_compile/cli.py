"""The `xslim` command.

    xslim export MODEL_DIR BUNDLE --inputs steps.npz [--plan plan.json | --schedule full,skip,...]
                [--estimator taylor1] [--block-reuse 1,2] [--token-ratio 0.5]
    xslim run BUNDLE --inputs steps.npz --out out.npz

steps.npz holds one whole generation's per-step inputs, named like the model's forward arguments:
every array has the step axis first (timestep [T, B] for T steps; repeat a constant input T times).
The file is read without pickle. `export` loads MODEL_DIR with diffusers' from_pretrained (the
class named in its config), runs that generation through xs.optimize (so the variants it uses are
built) and writes the bundle. `run` repeats the generation from the bundle with onnxruntime alone
(no torch import) and writes out.npz: `output.<i>` with the step axis first.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _steps(path: str) -> tuple[int, dict[str, np.ndarray]]:
    data = dict(np.load(path, allow_pickle=False))
    if not data:
        raise SystemExit(f"{path}: no arrays")
    lengths = {name: (a.shape[0] if a.ndim else None) for name, a in data.items()}
    if None in lengths.values() or len(set(lengths.values())) != 1:
        raise SystemExit(f"{path}: every array needs the step axis first, with one length; got first axes {lengths}")
    return next(iter(lengths.values())), data


def run(args) -> None:
    from .deploy import Runner

    steps, data = _steps(args.inputs)
    runner = Runner(args.bundle)
    outputs: list[list[np.ndarray]] = []
    with runner.generation(steps):
        for t in range(steps):
            outputs.append(runner(**{name: a[t] for name, a in data.items()}))
    np.savez(args.out, **{f"output.{i}": np.stack([o[i] for o in outputs]) for i in range(len(outputs[0]))})
    for step, key, reason in runner.trace:
        print(f"{step:4d}  {key:28s} {reason}")


def export(args) -> None:
    import diffusers
    import torch

    import xslim_compile as xs

    steps, data = _steps(args.inputs)
    config = Path(args.model) / "config.json"
    name = json.loads(config.read_text()).get("_class_name") if config.is_file() else None
    model_class = getattr(diffusers, name or "", None)
    if model_class is None:
        raise SystemExit(f"{args.model}: no config.json naming a diffusers model class (_class_name: {name!r}); "
                         f"give a directory written by save_pretrained")
    model = model_class.from_pretrained(args.model).eval()
    settings = {}
    if args.plan:
        settings["plan"] = xs.Plan.load(args.plan)
    if args.schedule:
        settings["schedule"] = args.schedule.split(",")
    if args.estimator:
        settings["estimator"] = args.estimator
    if args.block_reuse:
        settings["block_reuse"] = tuple(int(i) for i in args.block_reuse.split(","))
    if args.token_ratio is not None:
        settings["token_ratio"] = args.token_ratio
    opt = xs.optimize(model, xs.XSlimConfig(**settings))
    with torch.no_grad(), opt.generation(steps):
        for t in range(steps):
            opt(**{name: torch.from_numpy(np.ascontiguousarray(a[t])) for name, a in data.items()})
    print(opt.trace.table())
    print(f"bundle: {xs.export(opt, args.bundle)}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="xslim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="optimize a saved diffusers model, run one generation, write a bundle")
    p.add_argument("model", help="a directory written by save_pretrained")
    p.add_argument("bundle", help="the bundle directory to write (new or empty)")
    p.add_argument("--inputs", required=True, help="steps.npz: the generation's per-step inputs")
    p.add_argument("--plan", help="a plan JSON (xs.Plan.save)")
    p.add_argument("--schedule", help="comma-separated variants, one per step (instead of --plan)")
    p.add_argument("--estimator", help="reuse, taylor1, taylor2 or damped")
    p.add_argument("--block-reuse", help="comma-separated reused block indices")
    p.add_argument("--token-ratio", type=float)
    p.set_defaults(func=export)
    p = sub.add_parser("run", help="repeat a generation from a bundle with onnxruntime (no torch)")
    p.add_argument("bundle")
    p.add_argument("--inputs", required=True, help="steps.npz: the generation's per-step inputs")
    p.add_argument("--out", required=True, help="out.npz: output.<i> with the step axis first")
    p.set_defaults(func=run)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except Exception as error:  # noqa: BLE001 - a command line shows the message, not a traceback
        from .errors import XSlimError

        if not isinstance(error, XSlimError):
            raise
        print(f"xslim {args.command}: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
