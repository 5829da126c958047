"""The quality benchmark's pure pieces: Pareto frontiers, interpolation, win rules, bootstrap SEs, paired
agreement, threshold choice and result paths. No model runs here."""
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.common import RESULTS, display_path, result_path, time_rounds
from benchmarks.metrics import bootstrap_se, frechet_distance, frechet_distance_se, mean_se, paired_agreement
from benchmarks.pareto import Point, compare, format_comparison, frontier, interpolate, wins
from benchmarks.tuning import Measurements, choose_threshold


def test_frontier_drops_dominated_points_and_orders_by_speedup():
    points = [Point(2.0, 30.0), Point(3.0, 25.0), Point(3.0, 27.0), Point(2.5, 24.0), Point(4.0, 26.0),
              Point(5.0, 20.0)]
    front = frontier(points, higher_is_better=True)
    # (2.5, 24) and (3, 25) are beaten by (3, 27); (3, 27) stays: faster (4, 26) is worse
    assert [(p.speedup, p.value) for p in front] == [(2.0, 30.0), (3.0, 27.0), (4.0, 26.0), (5.0, 20.0)]


def test_frontier_lower_is_better():
    points = [Point(2.0, 100.0), Point(3.0, 90.0), Point(4.0, 150.0), Point(5.0, 140.0)]
    front = frontier(points, higher_is_better=False)
    assert [(p.speedup, p.value) for p in front] == [(3.0, 90.0), (5.0, 140.0)]


def test_interpolate_linear_without_extrapolation():
    front = [Point(2.0, 30.0, 1.0), Point(4.0, 20.0, 3.0)]
    assert interpolate(front, 3.0) == pytest.approx((25.0, 2.0))
    assert interpolate(front, 2.0) == pytest.approx((30.0, 1.0))
    assert interpolate(front, 4.0) == pytest.approx((20.0, 3.0))
    assert interpolate(front, 1.9) is None and interpolate(front, 4.5) is None
    assert interpolate([Point(3.0, 5.0)], 3.0) == (5.0, 0.0)
    assert interpolate([Point(3.0, 5.0)], 3.5) is None
    assert interpolate([], 3.0) is None
    # a slower dominated point extends the family's range: the faster, better first point holds there
    assert interpolate(front, 1.5, floor=1.4) == (30.0, 1.0) and interpolate(front, 1.3, floor=1.4) is None


def test_win_rules():
    se = math.hypot(3.0, 4.0)  # 5
    assert wins("fd_classifier", (110.0, 3.0), (100.0, 4.0))                  # within 2 SE = 10
    assert not wins("fd_classifier", (110.0 + 1e-6, 3.0), (100.0, 4.0))
    assert wins("fd_classifier", (100.0 + 2 * se, 3.0), (100.0, 4.0))
    assert wins("psnr", (20.01, 0.1), (20.0, 0.1)) and not wins("psnr", (20.0, 0.1), (20.0, 0.1))
    assert wins("paired_agreement", (0.9, 0.0), (0.9, 0.0)) and not wins("paired_agreement", (0.89, 0), (0.9, 0))
    with pytest.raises(ValueError):
        wins("ssim", (1, 0), (1, 0))


def _rows():
    rows = [{"method": "full", "family": "full", "speedup_wall": 1.0, "speedup_flops": 1.0, "psnr": 100.0,
             "fd_classifier": 150.0, "fd_classifier_se": 5.0, "paired_agreement": 1.0}]
    for s, psnr, fd, agree in ((2.0, 30.0, 160.0, 0.95), (4.0, 24.0, 200.0, 0.85)):
        rows.append({"method": f"xslim_{s:g}x", "family": "xslim", "speedup_wall": s * 0.9, "speedup_flops": s,
                     "psnr": psnr, "fd_classifier": fd, "fd_classifier_se": 5.0, "paired_agreement": agree})
    for s, psnr, fd, agree in ((2.0, 29.0, 150.0, 0.96), (3.0, 25.0, 190.0, 0.85), (6.0, 15.0, 400.0, 0.5)):
        rows.append({"method": f"steps_{s:g}", "family": "steps", "speedup_wall": s, "speedup_flops": s,
                     "psnr": psnr, "fd_classifier": fd, "fd_classifier_se": 5.0, "paired_agreement": agree})
    return rows


def test_compare_on_the_grid():
    result = compare(_rows(), grid=(2.0, 3.0, 4.0, 5.0))
    flops = {(c["speedup"], c["metric"]): c for c in result["comparisons"] if c["axis"] == "flops"}
    # X-Slim's range ends at 4x: nothing at 5x; full and xslim are never a column
    assert {s for s, _ in flops} == {2.0, 3.0, 4.0}
    assert {c["family"] for c in result["comparisons"]} == {"steps"}
    assert flops[(2.0, "psnr")]["wins"] and flops[(2.0, "fd_classifier")]["wins"]   # 160 <= 150 + 2*7.07
    assert not flops[(2.0, "paired_agreement")]["wins"]
    assert flops[(3.0, "psnr")]["xslim"] == pytest.approx(27.0) and flops[(3.0, "psnr")]["other"] == 25.0
    # steps at 4x: between (3, 25) and (6, 15)
    assert flops[(4.0, "psnr")]["other"] == pytest.approx(25.0 - 10.0 / 3)
    overall = {(o["axis"], o["speedup"]): o["wins_all"] for o in result["overall"]}
    assert overall[("flops", 2.0)] is False and overall[("flops", 3.0)] is True
    # the wall axis uses the wall speedups: X-Slim's frontier spans 1.8x..3.6x there
    assert {c["speedup"] for c in result["comparisons"] if c["axis"] == "wall"} == {2.0, 3.0}
    assert "psnr by flops speedup" in format_comparison(result)


def test_bootstrap_se_matches_the_standard_error_of_a_mean():
    values = np.random.default_rng(1).normal(0.0, 2.0, size=400)
    expected = values.std(ddof=1) / math.sqrt(len(values))
    assert mean_se(values, draws=400) == pytest.approx(expected, rel=0.2)
    assert mean_se(np.full(50, 100.0)) == 0.0
    assert math.isnan(bootstrap_se(lambda idx: 0.0, 1))
    # the same seed gives the same answer
    assert mean_se(values, seed=3) == mean_se(values, seed=3)


def test_frechet_distance_se_on_synthetic_features():
    rng = np.random.default_rng(0)
    mu_ref, cov_ref = np.zeros(4), np.eye(4)
    near = rng.normal(0.0, 1.0, size=(300, 4))
    far = rng.normal(1.0, 1.0, size=(300, 4))
    se_near, se_far = frechet_distance_se(near, mu_ref, cov_ref, draws=50), frechet_distance_se(far, mu_ref, cov_ref,
                                                                                               draws=50)
    assert 0.0 < se_near < 0.5 and 0.0 < se_far < 1.0
    fd_far = frechet_distance(far.mean(0), np.cov(far, rowvar=False), mu_ref, cov_ref)
    assert fd_far == pytest.approx(4.0, abs=4 * se_far)


def test_paired_agreement():
    agree = paired_agreement(np.array([1, 2, 3, 4]), np.array([1, 0, 3, 0]))
    assert agree.tolist() == [1.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        paired_agreement(np.array([1, 2]), np.array([1]))


def test_choose_threshold_brackets_and_bisects():
    calls = []

    def speedup(threshold):   # smooth and increasing: 1 + 10 t, capped at 8
        calls.append(threshold)
        return min(1.0 + 10.0 * threshold, 8.0)

    measurements = Measurements(speedup)
    record = choose_threshold(3.0, measurements)
    assert record["reachable"] and abs(record["speedup"] - 3.0) / 3.0 <= 0.03
    first = len(calls)
    record = choose_threshold(4.0, measurements)   # reuses the measured points
    assert record["reachable"] and len(calls) - first <= 8
    record = choose_threshold(10.0, measurements)   # capped at 8: reported, not clamped
    assert not record["reachable"] and "cannot reach 10x" in record["note"] and record["speedup"] == 8.0


def test_choose_threshold_stops_at_a_jump():
    calls = []

    def speedup(threshold):   # jumps from 2 to 5 at 0.3
        calls.append(threshold)
        return 2.0 if threshold < 0.3 else 5.0

    record = choose_threshold(3.0, Measurements(speedup))
    assert not record["reachable"] and record["speedup"] == 2.0 and len(calls) <= 8
    assert "jumps from 2.00x to 5.00x" in record["note"]


def test_choose_threshold_floor_is_reported():
    record = choose_threshold(2.0, Measurements(lambda t: 3.0 + t))
    assert not record["reachable"] and "cannot go as low" in record["note"]


def test_result_path_names_and_paths(tmp_path):
    assert result_path(None, "quality_quick") == RESULTS / "quality_quick.json"
    assert result_path("run1", "x") == RESULTS / "run1.json"
    assert result_path("run1.json", "x") == RESULTS / "run1.json"          # no second .json
    assert result_path(str(tmp_path / "a" / "run.json"), "x") == tmp_path / "a" / "run.json"
    assert result_path(str(tmp_path / "run"), "x") == tmp_path / "run.json"
    assert result_path("sub/run", "x").as_posix() == "sub/run.json"
    assert display_path(tmp_path / "run.json") == str((tmp_path / "run.json").resolve())   # outside the repo
    assert display_path(RESULTS / "run.json") == "benchmarks/results/run.json"


def test_method_selection_and_quick_arguments():
    from benchmarks.methods import select_methods
    from benchmarks.quality import QUICK, parse_args

    chosen = [m.name for m in select_methods(["steps_17"], ["uniform"])]
    assert chosen[:3] == ["full", "steps_17", "uniform_2"] and len(chosen) == 7
    assert all(m.family in ("xslim", "full") for m in select_methods(None, ["xslim"]))
    with pytest.raises(ValueError):
        select_methods(["nope"], None)
    args = parse_args(["--quick", "--rounds", "5"])
    assert [m.name for m in args.selected] == list(QUICK) and args.samples == 10 and args.rounds == 5


def test_op_excess_finds_the_added_operator():
    # a "variant" doing half the matmul work plus a sort it alone runs: the sort is its top excess,
    # the matmul's share stays near what half the rows predict
    import torch

    from benchmarks.variant_latency import op_excess

    w, x, extra = torch.randn(256, 256), torch.randn(512, 256), torch.randn(200_000)
    out = op_excess(lambda: x @ w, lambda: (x[:256] @ w, extra.sort()), 0.5)
    assert next(iter(out)) == "aten::sort" and out["aten::sort"] > 0.05
    assert set(out) >= {"rest", "variant_share_profiled"}


def test_time_rounds_reverses_odd_rounds():
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    seconds = time_rounds(fns, 3, torch.device("cpu"))
    assert calls == list("abccbaabc")
    assert {name: len(values) for name, values in seconds.items()} == {"a": 3, "b": 3, "c": 3}


_FAULTS = """
import resource, sys, torch
from benchmarks.common import keep_freed_memory
print(keep_freed_memory(), file=sys.stderr)
mlp = torch.nn.Sequential(torch.nn.Linear(96, 384), torch.nn.GELU(), torch.nn.Linear(384, 96))
x = torch.randn(40, 256, 96)
def step():  # a DiT-like stack: 4 MLPs on the reference model's activation size (15 MiB hidden)
    with torch.no_grad():
        h = x
        for _ in range(4):
            h = h + mlp(torch.nn.functional.layer_norm(h, (96,)))
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_keep_freed_memory_stops_page_faults_from_freed_tensors():
    """The benchmarks' allocator setting: warm steps of a DiT-like stack fault no page in; with glibc's
    defaults they fault in a good part of the 150k pages their hidden tensors take (53k-306k seen)."""
    def faults(**env):
        out = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **env})
        return int(out.stdout.split()[-1]), out.stderr
    kept, how = faults()
    default, how_default = faults(BENCH_ALLOCATOR="default")
    assert "freed memory kept" in how and "defaults" in how_default
    assert kept < 100 and default > 15000, (kept, default)
