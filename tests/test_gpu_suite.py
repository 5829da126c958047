"""Smoke test of benchmarks.gpu_suite: `--device cpu --tiny` runs the code paths of the GPU run, so that
the one GPU run does not fail on a typo. No timing is asserted."""
import argparse
import json
import math

import torch

from benchmarks import gpu_suite

TOKEN_ROWS = [spec.name for spec in gpu_suite.TOKEN_ROWS]
E2E_ROWS = [spec.name for spec in gpu_suite.E2E_ROWS]


def _check_rows(result: dict, names: list[str]) -> list[dict]:
    assert result["complete"] and "error" not in result
    assert [row["name"] for row in result["rows"]] == names
    for row in result["rows"]:
        assert "error" not in row, row.get("traceback")
        assert row["seconds"] > 0 and row["backend"] == "eager" and not row["cuda_graphs"]
    return result["rows"]


def test_tiny_cpu_run_writes_every_section_with_its_rows(tmp_path):
    written = gpu_suite.main(["--device", "cpu", "--tiny", "--out-dir", str(tmp_path)])
    assert list(written) == ["token_latency", "end_to_end"]
    assert all(path.parent == tmp_path and path.name.endswith("_tiny.json") for path in written.values())

    for row in _check_rows(json.loads(written["token_latency"].read_text()), TOKEN_ROWS):
        variants = row["variants"]
        assert list(variants) == ["full", "token_0.5", "token_0.25"]
        assert variants["token_0.5"]["tokens"] == row["image_tokens"] // 2
        for v in variants.values():
            assert v["ms"] > 0 and math.isfinite(v["ratio_of_full"]) and v["ratio_of_full"] > 0
            assert v["busy_share"] is None and v["host_bound"] is None  # no kernels on a CPU
            assert v["parity_rel_err"] <= 1e-2  # same-input caches: exact up to bf16 rounding
        assert variants["token_0.25"]["flops_share"] < variants["token_0.5"]["flops_share"] < 1
        assert variants["token_0.5"]["cache_input_bytes"] > 0 == variants["full"]["cache_input_bytes"]

    for row in _check_rows(json.loads(written["end_to_end"].read_text()), E2E_ROWS):
        assert set(row["ms"]) == {"xslim_plan", "xslim_full", "torch_compile"}
        assert all(ms > 0 for ms in row["ms"].values())
        assert row["plan_variants"] == {"full": 3, "skip": 1} and row["fallbacks"] == []
        assert 1 < row["ideal_flops_speedup"] <= 4 / 3  # 3 of 4 steps computed; a skip costs a little
        for key in ("speedup", "ratio_to_ideal"):
            assert set(row[key]) == {"vs_xslim_full", "vs_torch_compile"}
            assert all(math.isfinite(v) and v > 0 for v in row[key].values())
        assert row["full_vs_torch_compile_rel_err"] <= 1e-2  # both compute every step in full
    assert [row["bound"] for row in json.loads(written["end_to_end"].read_text())["rows"]] == [0.9, None]


def test_only_picks_sections_and_a_failing_section_does_not_stop_the_next(tmp_path, monkeypatch):
    ran = []

    def broken(args, device, result, save):
        raise RuntimeError("boom")

    def fine(args, device, result, save):
        ran.append(result["section"])
        result["rows"].append({"name": "row"})
        save()

    monkeypatch.setattr(gpu_suite, "SECTIONS", {"token_latency": broken, "end_to_end": fine, "other": fine})
    written = gpu_suite.main(["--device", "cpu", "--only", "token_latency", "end_to_end", "--out-dir", str(tmp_path)])
    assert list(written) == ["token_latency", "end_to_end"] and ran == ["end_to_end"]
    failed = json.loads(written["token_latency"].read_text())
    assert failed["error"] == "RuntimeError: boom" and not failed["complete"] and "boom" in failed["traceback"]
    assert json.loads(written["end_to_end"].read_text())["complete"]


def test_a_failing_row_is_recorded_the_next_runs_and_rows_past_the_deadline_are_skipped():
    specs = [gpu_suite.Spec(name, "dit", 2, 8, 1) for name in "abc"]

    def measure(spec, args, device):
        if spec.name == "a":
            raise ValueError("bad row")
        return {"name": spec.name}

    result, saves = {"section": "test", "rows": []}, []
    args = argparse.Namespace(rows=["a", "b"], tiny=False, deadline=math.inf, deadline_s=1)
    gpu_suite.run_rows(specs, measure, args, torch.device("cpu"), result, lambda: saves.append(len(result["rows"])))
    assert [row["name"] for row in result["rows"]] == ["a", "b"] and saves == [1, 2]
    assert result["rows"][0]["error"] == "ValueError: bad row" and "error" not in result["rows"][1]

    late = {"section": "test", "rows": []}
    args = argparse.Namespace(rows=None, tiny=False, deadline=-math.inf, deadline_s=1)
    gpu_suite.run_rows(specs, measure, args, torch.device("cpu"), late, lambda: None)
    assert [row.get("skipped", "").startswith("due after") for row in late["rows"]] == [True] * 3


def test_union_of_kernel_spans_counts_overlaps_once():
    assert gpu_suite.union_us([(5, 6), (0, 2), (1, 3), (1.5, 2.5)]) == 4
    assert gpu_suite.union_us([]) == 0
