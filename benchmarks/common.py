"""Helpers shared by the benchmark scripts: machine description, timing, FLOP counting, JSON output."""
from __future__ import annotations

import ctypes
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


# glibc mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_MMAP_THRESHOLD = 32 << 20          # glibc's largest accepted value on 64-bit
KEEP_TRIM_THRESHOLD = 2 ** 31 - 1       # mallopt takes an int


def keep_freed_memory() -> str:
    """Make glibc keep freed heap memory for reuse instead of handing it back to the OS; returns what
    was set (for the result JSON). BENCH_ALLOCATOR=default leaves glibc's defaults.

    Why: with the defaults, the large tensors a step frees are unmapped and the next step faults their
    pages in again (about 90k page faults per call of the reference DiT at batch 40). How many depends on
    the heap's layout between calls, which differs between two modules running the same ops: 2.3-2.8M
    faults per 50-step generation for the diffusers module, 3.5-3.9M for the captured graph, about 10%
    of wall-clock on a VM where faults are slow. With memory kept, both fault about never, run about 15%
    faster, and time the same work the same. PyTorch's CPU tuning guide recommends a caching allocator
    (jemalloc, tcmalloc) for the same reason. Applied to every row of a run alike."""
    if os.environ.get("BENCH_ALLOCATOR") == "default":
        return "glibc defaults (BENCH_ALLOCATOR=default)"
    if platform.libc_ver()[0] != "glibc":
        return f"system default ({platform.libc_ver()[0] or 'not glibc'})"
    libc = ctypes.CDLL("libc.so.6")
    if not (libc.mallopt(M_MMAP_THRESHOLD, KEEP_MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, KEEP_TRIM_THRESHOLD)):
        return "glibc defaults (mallopt refused)"
    return f"glibc, freed memory kept (M_MMAP_THRESHOLD={KEEP_MMAP_THRESHOLD}, M_TRIM_THRESHOLD={KEEP_TRIM_THRESHOLD})"


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
    """Seconds of each call, round-robin over `rounds` rounds (callers warm the functions first), odd
    rounds in reverse order so that no function always runs right after the same one and drift over a
    round hits all alike; `on_round(r, seconds_so_far)` after each round, so that a long run can save
    what it has."""
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns.items())
    for r in range(rounds):
        for name, fn in (order if r % 2 == 0 else order[::-1]):
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
