"""Calibration on the committed reference model: the measured curve, plans that round-trip, the fast
plan against uniform reuse and fewer steps at matched ideal speedup, and the sync budget."""
import math

import numpy as np
import pytest
import torch

import xslim_compile as xs
from benchmarks.metrics import psnr
from benchmarks.reference.data import to_pixel_space
from benchmarks.reference.sampler import sample
from xslim_compile.runtime import host
from xslim_compile.schedules import uniform_schedule

CALIBRATION = dict(class_labels=[0, 3, 5, 8], seeds=[1000, 1001, 1002, 1003])
EVAL_LABELS, EVAL_SEEDS = list(range(10)), list(range(2000, 2010))


@pytest.fixture(scope="module")
def reference():
    from benchmarks.reference.model import load_dit

    return load_dit()


@pytest.fixture(scope="module")
def fast_plan(reference):
    return xs.calibrate(reference, run=lambda m: sample(m, CALIBRATION["class_labels"], CALIBRATION["seeds"], 50),
                        preset="fast")


@pytest.fixture(scope="module")
def full_images(reference):
    return to_pixel_space(sample(reference, EVAL_LABELS, EVAL_SEEDS, 50))


def _psnr(images, reference_images) -> float:
    return float(np.mean(np.minimum(psnr(images, reference_images), 100.0)))


def test_the_measured_err_curve_is_lower_in_the_middle(fast_plan):
    err = fast_plan.source["profile"]["err"]
    assert err[0] is None and len(err) == 50
    middle = float(np.median(err[15:35]))
    print(f"err_t: step 1 {err[1]:.4f}, middle median {middle:.4f}, step 49 {err[49]:.4f}")
    assert err[1] > middle and err[49] > middle


def test_plan_json_round_trip_gives_identical_decisions(reference, fast_plan, tmp_path):
    loaded = xs.Plan.load(fast_plan.save(tmp_path / "fast.json"))
    runs = []
    for plan in (fast_plan, loaded):
        opt = xs.optimize(reference, xs.XSlimConfig(plan=plan))
        images = sample(opt, EVAL_LABELS[:2], EVAL_SEEDS[:2], 50)
        runs.append(([(r.variant, r.detail) for r in opt.trace], images))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    assert "full" in [v for v, _ in runs[0][0]] and "skip" in [v for v, _ in runs[0][0]]


def test_fast_plan_beats_uniform_reuse_and_fewer_steps_at_matched_speed(reference, fast_plan, full_images):
    ideal = fast_plan.source["ideal_speedup"]
    every = math.ceil(ideal)                      # uniform reuse at least as fast in the ideal
    steps = math.floor(50 / ideal)                # step-count reduction at least as fast
    uniform = uniform_schedule(50, every)
    assert 50 / uniform.count("full") >= ideal * 0.9 and 50 / steps >= ideal
    plan_opt = xs.optimize(reference, xs.XSlimConfig(plan=fast_plan))
    uniform_opt = xs.optimize(reference, xs.XSlimConfig(schedule=uniform))
    scores = {
        "fast plan": _psnr(to_pixel_space(sample(plan_opt, EVAL_LABELS, EVAL_SEEDS, 50)), full_images),
        f"uniform every {every}": _psnr(to_pixel_space(sample(uniform_opt, EVAL_LABELS, EVAL_SEEDS, 50)),
                                        full_images),
        f"{steps} steps": _psnr(to_pixel_space(sample(reference, EVAL_LABELS, EVAL_SEEDS, steps)), full_images),
    }
    print(f"ideal speedup {ideal:.2f}x; PSNR against full compute: {scores}")
    values = list(scores.values())
    assert values[0] > values[1] and values[0] > values[2]


def test_sync_budget(reference, fast_plan):
    plan_opt = xs.optimize(reference, xs.XSlimConfig(plan=fast_plan, check_finite=False))
    sample(plan_opt, [1], [5], 50)  # capture and build outside the count
    before = host.reads
    sample(plan_opt, [1, 2], [5, 6], 50)
    assert host.reads == before  # position from generation(), reuse sets from the plan: no read at all
    online = xs.calibrate(reference, run=lambda m: sample(m, [0, 3], [1000, 1001], 50), preset="fast", online=True)
    online_opt = xs.optimize(reference, xs.XSlimConfig(plan=online, check_finite=False))
    sample(online_opt, [1], [5], 50)
    before = host.reads
    sample(online_opt, [1, 2], [5, 6], 50)
    assert 0 < host.reads - before <= 50
    variants = set(online_opt.trace.variants()[-50:])
    assert {"full", "skip"} <= variants


def test_calibrating_a_pipeline_restores_its_transformer():
    from tests.test_pipelines import dit_pipe

    pipe = dit_pipe()
    original = pipe.transformer
    plan = xs.calibrate(pipe, inputs=[dict(class_labels=[1, 2], num_inference_steps=8, output_type="np",
                                           generator=torch.Generator().manual_seed(0))], preset="slow",
                        progress=False)
    assert pipe.transformer is original
    assert plan.source["num_steps"] == 8 and plan.source["sampler"] == "DDIMScheduler"
    assert len(plan.variants(8)) == 8 and plan.variants(8)[0] == "full"
