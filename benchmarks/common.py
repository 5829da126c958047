"""Helpers shared by the benchmark scripts: machine description, timing, FLOP counting, JSON output."""
from __future__ import annotations

import json
import os
import platform
import re
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine_name(device: torch.device | str = "cpu") -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} ({torch.get_num_threads()} threads)"


def machine_slug(device: torch.device | str = "cpu") -> str:
    """machine_name as a file-name part: 'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'."""
    return re.sub(r"[^a-z0-9]+", "-", machine_name(device).lower()).strip("-")[:48]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device,
                     warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each function, run round-robin so that drift hits all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    return {name: statistics.median(values) for name, values in time_rounds(fns, repeats, device).items()}


def time_rounds(fns: dict[str, Callable[[], object]], rounds: int, device: torch.device,
                on_round: Callable[[int, dict[str, list[float]]], None] | None = None) -> dict[str, list[float]]:
    """Seconds of each call, round-robin over `rounds` rounds (callers warm the functions first);
    `on_round(r, seconds_so_far)` after each round, so that a long run can save what it has."""
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(rounds):
        for name, fn in fns.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            seconds[name].append(time.perf_counter() - start)
        if on_round is not None:
            on_round(r, seconds)
    return seconds


def count_flops(fn: Callable[[], object]) -> int:
    return counted(fn)[0]


def counted(fn: Callable[[], object]) -> tuple[int, object]:
    """(FLOPs of the call, its result)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        out = fn()
    return counter.get_total_flops(), out


def result_path(out: str | Path | None, default_name: str) -> Path:
    """Where a result goes: a bare name lands in benchmarks/results/, anything with a directory part is
    a path; `.json` is added only when missing."""
    raw = str(out) if out is not None else default_name
    path = Path(raw)
    if path.suffix != ".json":
        path = path.with_name(path.name + ".json")
    bare = os.sep not in raw and "/" not in raw
    return RESULTS / path.name if bare else path


def display_path(path: Path) -> str:
    """The path relative to the repository when inside it, else absolute."""
    path = path.resolve()
    try:
        return str(path.relative_to(RESULTS.parent.parent))
    except ValueError:
        return str(path)


def write_json(name: str | Path, payload: dict) -> Path:
    """Write to benchmarks/results/NAME.json, or to `name` itself when it is a Path."""
    path = name if isinstance(name, Path) else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
