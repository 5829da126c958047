"""Which diffusers transformers the compiler covers: every entry of the coverage zoo, one row each.

    python -m benchmarks.coverage                      # the whole zoo; JSON and the README table
    python -m benchmarks.coverage --only WanTransformer3DModel --no-inductor

Columns (a tick, or the short reason it fails):
  full      capture and the full-path graph; output equals the eager model (rel. err <= 1e-5, fp32) at
            the first and the last timestep of the pipeline's range
  skip      the skip variant builds and passes build-time verification
  block     a block variant (block 1 reused) builds and passes verification
  token     the token variant (r = 0.5) builds and passes verification
  inductor  a 10-step run (full, skip, block, token where built: every full step is followed by an
            approximate one, so its graph is full+residuals(+K/V)) compiled with inductor, parity <= 1e-4,
            then a second 10-step run compiles nothing new (recorded: "recompiles"); run on the first
            entry of each class only (the others differ in config, not in the graphs' constructs), on
            the model and capture the eager columns made (build.VariantBuilder.with_config)
Entries start longest first (by the last saved run's times), and inductor compiles into a fresh cache
directory, so the wall time is what a machine with no cache sees.
A class counts when full, skip and block pass. Parameters a model initialises to zero (adaLN-Zero
gates, zero output projections) are drawn at random first, so that every block changes the output.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from torch._dynamo.utils import counters
from tqdm import tqdm

import xslim_compile as xs
from xslim_compile.build import build_variant_set
from xslim_compile.plan import Variant
from xslim_compile.runtime.policies import token_bucket
from xslim_compile.runtime.variant_set import VariantKey

from .common import RESULTS, display_path, machine_name, result_path, write_json

COLUMNS = ("full", "skip", "block", "token", "inductor")
PARITY = 1e-5
INDUCTOR_PARITY = 1e-4
STEPS = 10
README_BEGIN, README_END = "<!-- coverage table: begin -->", "<!-- coverage table: end -->"


def wake(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Draw the zero-initialised parameters at random (else a zero gate makes a block's skip exact)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() and not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return model


def first_tensor(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return first_tensor(out[0])
    return first_tensor(out.sample if hasattr(out, "sample") else out.to_tuple())


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".splitlines()[0]
    return text if len(text) <= 160 else text[:157] + "..."


@contextlib.contextmanager
def time_limit(seconds: int):
    def fire(*_):
        raise TimeoutError(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def timesteps(entry, steps: int = STEPS) -> list[float]:
    first, last = entry.timesteps
    return [first + (last - first) * i / (steps - 1) for i in range(steps)]


SECONDARY = "not run: compiled on the class's first entry"


def check(entry, inductor: bool | str = True, limit: int = 300) -> dict:
    """inductor: True, False, or the reason it is not run for this entry."""
    row: dict = {"class": entry.cls, "name": entry.key, "pipeline": entry.pipeline, "config": entry.config}
    start = time.perf_counter()
    try:
        with time_limit(limit):
            captured = _check_eager(entry, row)
            row["seconds_eager"] = round(time.perf_counter() - start, 1)
            if inductor is True and row["full"] == "ok" and row["skip"] == "ok" and row["block"] == "ok":
                _check_inductor(entry, row, *captured)
            elif isinstance(inductor, str) and row["full"] == "ok":
                row["inductor"] = inductor
    except TimeoutError as error:
        for column in COLUMNS:
            row.setdefault(column, short(error))
    for column in COLUMNS:
        row.setdefault(column, "not run" if column == "inductor" and not inductor else "-")
    row["counts"] = all(row[c] == "ok" for c in ("full", "skip", "block"))
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def _check_eager(entry, row: dict) -> tuple | None:
    """Fills the eager columns; returns (model, its capture's builder) for the inductor column."""
    try:
        model = wake(entry.make())
        steps = entry.timesteps
        inputs = [entry.inputs(t, 0) for t in steps]
        with torch.no_grad():
            want = [first_tensor(model(**kw)) for kw in inputs]
    except Exception as error:  # the zoo entry itself (diffusers, the inputs): not the compiler's
        row.update({c: "eager: " + short(error) for c in COLUMNS})
        return
    try:
        opt = xs.optimize(model, xs.XSlimConfig(schedule=["full"], strict=True))
        errors = []
        for kw, ref in zip(inputs, want):
            with opt.generation(num_steps=1):
                errors.append(rel_err(first_tensor(opt(**kw)), ref))
        row["full_rel_err"] = max(errors)
        row["full"] = "ok" if max(errors) <= PARITY else f"rel. err {max(errors):.1e} > {PARITY:g}"
        variants = next(iter(opt._variant_sets.values()))
    except Exception as error:
        row.update({c: short(error) for c in COLUMNS})
        return
    stack = variants.stack
    row["blocks"], row["chains"] = stack.num_blocks, len(stack.chain_paths)
    keys = {"skip": VariantKey(Variant.SKIP), "block": VariantKey(Variant.BLOCK, reuse=(1,))}
    for column, key in keys.items():
        row[column] = _build(variants, key)
    try:
        variants.builder.token_plan
        row["token"] = _build(variants, VariantKey(Variant.TOKEN, tokens=token_bucket(0.5, variants.image_tokens)))
    except Exception as error:
        row["token"] = short(error)
    return model, variants.builder


def _build(variants, key) -> str:
    try:
        variants.get(key)
        return "ok"
    except Exception as error:
        return short(error)


def _check_inductor(entry, row: dict, model, builder) -> None:
    schedule = ["full", "skip", "block"] + (["token"] if row["token"] == "ok" else ["skip"])
    schedule = (schedule * STEPS)[:STEPS]
    try:
        inputs = [entry.inputs(t, 0) for t in timesteps(entry)]
        config = xs.XSlimConfig(schedule=schedule, block_reuse=[1], token_ratio=0.5, backend="inductor", strict=True)
        opt = xs.optimize(model, config)
        opt._build = partial(build_variant_set, builder=builder.with_config(config))
        with opt.generation(num_steps=STEPS):
            first = [first_tensor(opt(**kw)) for kw in inputs]
        graphs = counters["stats"]["unique_graphs"]
        with opt.generation(num_steps=STEPS):
            second = [first_tensor(opt(**kw)) for kw in inputs]
        row["recompiles"] = counters["stats"]["unique_graphs"] - graphs
        with torch.no_grad():
            err = rel_err(first[0], first_tensor(model(**inputs[0])))
        drift = max(rel_err(a, b) for a, b in zip(first, second))
        row["inductor_rel_err"] = err
        row["inductor"] = ("ok" if row["recompiles"] == 0 and err <= INDUCTOR_PARITY and drift <= PARITY else
                           f"{row['recompiles']} recompiles, rel. err {err:.1e}, run-to-run {drift:.1e}")
    except Exception as error:
        row["inductor"] = short(error)
    finally:
        torch._dynamo.reset()


def _check_by_key(key: str, inductor: bool | str, limit: int) -> dict:
    from tests.coverage_zoo import entries

    torch.set_num_threads(1)  # one thread per job: two jobs on two cores, no OpenMP contention
    torch.set_grad_enabled(False)
    return check(entries()[key], inductor=inductor, limit=limit)


def run_all(entries: list, inductor: bool, limit: int, jobs: int, last: dict[str, float] | None = None) -> list[dict]:
    """Rows in zoo order; with jobs > 1, entries run in worker processes (compiles are single-threaded),
    the longest first by `last` (entry name -> seconds) so that no long entry starts at the end."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    import multiprocessing

    keys = [e.key for e in entries]
    seen: set[str] = set()
    mode: dict[str, bool | str] = {}
    for e in entries:
        mode[e.key] = inductor and (True if e.cls not in seen else SECONDARY)
        seen.add(e.cls)
    last = last or {}
    found: dict[str, dict] = {}
    bar = tqdm(total=len(keys), desc="coverage", unit="model")
    with ProcessPoolExecutor(max(1, jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_check_by_key, key, mode[key], limit): key
                   for key in sorted(keys, key=lambda k: -last.get(k, 60.0))}
        for future in as_completed(futures):
            row = future.result()
            found[futures[future]] = row
            bar.update()
            tqdm.write(json.dumps({k: v for k, v in row.items() if k in ("name", "seconds", *COLUMNS)}))
    bar.close()
    return [found[key] for key in keys]


def cell(text: str, cls: str) -> str:
    """A reason short enough for a table cell (the JSON keeps the whole first line)."""
    if text == "ok":
        return "✔"
    for noise in (f"{cls}: ", "the token variant cannot be built: ", "the token variant cannot be built ",
                  "UnsupportedModelError: ",
                  "torch.export (non-strict) could not capture ", f"{cls}.forward: "):
        text = text.replace(noise, "")
    text = text.replace("|", "/")
    return text if len(text) <= 90 else text[:87] + "..."


def table(rows: list[dict]) -> str:
    lines = ["| class | pipeline | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for r in rows:
        failed_first = r["full"] != "ok" and all(r[c] == r["full"] for c in COLUMNS[1:4])
        cells = [cell(r[c], r["class"]) if c == "full" or not failed_first else "-" for c in COLUMNS]
        lines.append(f"| {r['name']} | {r['pipeline']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_readme(rows: list[dict], excluded: dict[str, str], summary: str) -> None:
    path = RESULTS.parent.parent / "README.md"
    text = path.read_text()
    if README_BEGIN not in text:
        raise SystemExit(f"README.md has no {README_BEGIN} marker")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    left_out = "\n".join(f"- `{name}`: {why}" for name, why in sorted(excluded.items()))
    body = f"{summary}\n\n{table(rows)}\n\nLeft out of the zoo:\n{left_out}\n"
    path.write_text(f"{head}{README_BEGIN}\n{body}{README_END}{tail}")


def main(argv=None) -> dict:
    from tests.coverage_zoo import entries, excluded

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=None, help="class names or entry names")
    parser.add_argument("--no-inductor", action="store_true", help="skip the inductor column (slow on CPU)")
    parser.add_argument("--limit", type=int, default=300, help="seconds per entry")
    parser.add_argument("--jobs", type=int, default=2, help="entries checked at once, one thread each")
    parser.add_argument("--out", default=None, help="a name (written to benchmarks/results/) or a path")
    parser.add_argument("--update", metavar="FILE.json", default=None,
                        help="with --only: replace those rows of a saved whole-zoo run, then rewrite it and the README")
    parser.add_argument("--readme", metavar="FILE.json", default=None,
                        help="rewrite the README table from a saved run; run nothing")
    args = parser.parse_args(argv)
    if args.readme:
        result = json.loads(Path(args.readme).read_text())
        result["summary"] = summarize(result)
        write_readme(result["rows"], result["excluded"], result["summary"])
        print(result["summary"])
        return result
    zoo = entries()
    chosen = [e for e in zoo.values() if args.only is None or e.key in args.only or e.cls in args.only]
    if args.only and not chosen:
        raise SystemExit(f"no zoo entry named {args.only}; entries: {', '.join(sorted(zoo))}")
    torch.set_grad_enabled(False)
    saved = RESULTS / "coverage_cpu.json"
    last = {r["name"]: r["seconds"] for r in json.loads(saved.read_text())["rows"]} if saved.exists() else {}
    start = time.perf_counter()
    with _fresh_inductor_cache():
        rows = run_all(chosen, not args.no_inductor, args.limit, args.jobs, last)
    result = {"benchmark": "coverage", "machine": machine_name(), "torch": torch.__version__,
              "diffusers": _version("diffusers"), "inductor": not args.no_inductor, "jobs": args.jobs,
              "inductor_cache": "fresh", "wall_seconds": round(time.perf_counter() - start), "rows": rows,
              "excluded": excluded()}
    result["summary"] = summary = summarize(result)
    print(table(rows) + "\n\n" + summary)
    if args.update:
        saved = json.loads(Path(args.update).read_text())
        fresh = {r["name"]: r for r in rows}
        saved["rows"] = [fresh.pop(r["name"], r) for r in saved["rows"]] + list(fresh.values())
        saved["updated"] = sorted(set(saved.get("updated", [])) | {r["name"] for r in rows})
        saved["summary"] = summarize(saved)
        write_json(Path(args.update), saved)
        write_readme(saved["rows"], saved["excluded"], saved["summary"])
        print(f"updated {args.update}: {saved['summary']}")
    elif args.only is None:
        path = write_json(result_path(args.out, "coverage_cpu"), result)
        print(f"wrote {display_path(path)}")
        if not args.no_inductor:
            write_readme(rows, excluded(), summary)
    return result


@contextlib.contextmanager
def _fresh_inductor_cache():
    """Workers inherit the environment: an empty cache directory makes every compile a cold one."""
    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    path = tempfile.mkdtemp(prefix="xslim-coverage-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = path
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = before
        shutil.rmtree(path, ignore_errors=True)


def summarize(result: dict) -> str:
    rows = result["rows"]
    classes = {r["class"] for r in rows}

    def count(test) -> int:
        return len({r["class"] for r in rows if test(r)})

    return (f"{count(lambda r: r['counts'])} of {len(classes)} classes count ({sum(r['counts'] for r in rows)} of "
            f"{len(rows)} entries): full parity, skip and block verified; "
            f"{count(lambda r: r['counts'] and r['inductor'] == 'ok')} also run inductor with no recompiles over a "
            f"{STEPS}-step run; the token variant builds for {count(lambda r: r['token'] == 'ok')}. diffusers "
            f"{result['diffusers']}, torch {result['torch']}, {result['machine']}, {result.get('jobs', 1)} jobs, "
            f"{result['wall_seconds'] / 60:.0f} min.")


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    sys.exit(main() and 0)
