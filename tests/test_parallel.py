"""X-Slim under diffusers' context parallelism (Ulysses, degree 2): two CPU processes with gloo.

tests/parallel_worker.py runs each rank; this checks what they wrote: each rank's output equals the
single-process optimized module's, both ranks ran the same variants, and the agreed host read keeps
them together when one rank's indicator or cache differs.
"""
from __future__ import annotations

import json
import socket

import pytest
import torch
import torch.distributed as dist

from tests.parallel_worker import STEPS, main, variants

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
FAMILIES = {"flux": ("schedule", "plan", "online", "token"), "wan": ("schedule", "online")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    import torch.multiprocessing as mp

    out = tmp_path_factory.mktemp("ranks")
    mp.start_processes(main, args=(2, _free_port(), str(out), FAMILIES), nprocs=2, start_method="spawn")
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.parametrize("family,case", [(f, c) for f, cases in FAMILIES.items() for c in cases if c != "token"])
def test_matches_single_process(ranks, family, case):
    for rank in ranks:
        result = rank[family][case]
        assert result["rel_err"] <= 1e-5
        assert variants(result["trace"]) == variants(result["single_trace"])
        assert len(result["trace"]) == STEPS
    assert ranks[0][family][case]["trace"] == ranks[1][family][case]["trace"]
    assert {"skip", "block"} <= set(variants(ranks[0][family][case]["trace"]))


def test_token_steps_run_full_on_every_rank(ranks):
    """Ulysses reshapes heads into the token axis: the token variant is not built there, on any rank."""
    trace = ranks[0]["flux"]["token"]["trace"]
    assert trace == ranks[1]["flux"]["token"]["trace"]
    single = variants(ranks[0]["flux"]["token"]["single_trace"])
    for record, planned in zip(trace, single):
        if planned == "token":
            assert record[1] == "full" and "token" in record[3]


@pytest.mark.parametrize("family", FAMILIES)
def test_one_ranks_indicator_is_agreed(ranks, family):
    skewed = [r[family]["skewed_indicator"]["trace"] for r in ranks]
    assert skewed[0] == skewed[1]
    plain = [record[4] for record in ranks[0][family]["online"]["trace"]]
    agreed = [record[4] for record in skewed[0]]
    # rank 1's indicator (4x) is the maximum, and rank 0 decided on it too
    assert any(p is not None for p in plain)
    assert all((p is None and a is None) or a == pytest.approx(4 * p, rel=1e-5) for p, a in zip(plain, agreed))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_nan_on_one_rank_sends_every_rank_to_full(ranks, family):
    traces = [r[family]["nan_on_one_rank"]["trace"] for r in ranks]
    assert traces[0] == traces[1]
    step4 = traces[0][4]
    assert step4[1] == "full" and "non-finite" in step4[3]  # the schedule says skip there


@pytest.mark.parametrize("family", FAMILIES)
def test_different_plans_are_an_error_on_every_rank(ranks, family):
    for rank in ranks:
        assert "different X-Slim plans" in rank[family]["mixed_plans"]


def test_the_shim_restores_the_device_count():
    from tests.parallel_worker import cpu_device_count

    before = torch.accelerator.device_count
    with cpu_device_count():
        assert torch.accelerator.device_count() >= 1
    assert torch.accelerator.device_count is before
