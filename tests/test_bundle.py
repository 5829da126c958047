"""xs.export: ONNX bundles of the built variants, checked against the PyTorch variants call by call."""
import json

import numpy as np
import pytest
import torch

import xslim_compile as xs
from xslim_compile.bundle.manifest import MANIFEST, SCHEMA_VERSION, key_dict, read_manifest
from xslim_compile.bundle.write import INLINE_LIMIT, PAST, PRESENT, WEIGHTS_FILE
from xslim_compile.forecast import WEIGHTS
from xslim_compile.runtime.variant_set import CompiledVariant

from .test_layering import PACKAGE
from .zoo import dit_inputs, make_dit

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SCHEDULE = ["full", "full", "skip", "block", "token", "full", "skip", "skip"]


def _generation(opt, inputs, steps=len(SCHEDULE)):
    with torch.no_grad(), opt.generation(steps):
        for t in range(steps):
            opt(**{**inputs, "timestep": torch.full((2,), 900.0 - 100 * t)})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny DiT run through full, skip (taylor1), block and token steps, every call's variant inputs
    and outputs recorded, then exported."""
    opt = xs.optimize(make_dit(), xs.XSlimConfig(schedule=SCHEDULE, estimator="taylor1", block_reuse=(1, 2)))
    calls, original = [], CompiledVariant.__call__

    def record(self, tensors, caches):
        outputs, produced = original(self, tensors, caches)
        calls.append((self.key, [t.clone() for t in tensors], {n: caches[n].clone() for n in self.cache_inputs},
                      [o.clone() for o in outputs], {n: t.clone() for n, t in produced.items()}))
        return outputs, produced

    ran = []  # what the runtime ran (the calls also hold build-time verification runs)
    opt.observers.append(lambda info, key, state, latent: ran.append(key))
    CompiledVariant.__call__ = record
    try:
        _generation(opt, dit_inputs())
    finally:
        CompiledVariant.__call__ = original
    path = xs.export(opt, tmp_path_factory.mktemp("bundle") / "dit")
    return opt, calls, path, ran


def test_every_call_of_a_generation_matches_its_onnx_graph(exported):
    opt, calls, path, ran = exported
    manifest = read_manifest(path)
    variants = {json.dumps(v["key"], sort_keys=True): v for v in manifest["signatures"][0]["variants"]}
    assert {json.dumps(key_dict(key), sort_keys=True) for key in ran} <= set(variants)
    sessions = {}
    kinds = set()
    for key, tensors, caches, outputs, produced in calls:
        entry = variants.get(json.dumps(key_dict(key), sort_keys=True))
        if entry is None:
            continue  # a graph only build-time verification used
        session = sessions.get(entry["file"]) or sessions.setdefault(
            entry["file"], ort.InferenceSession(str(path / entry["file"]), providers=["CPUExecutionProvider"]))
        names = [spec["name"] for spec in entry["inputs"]]
        values = tensors + [caches[n] for n in caches]
        feed = dict(zip(names, (v.numpy() for v in values)))
        assert set(feed) >= {PAST + n for n in entry["cache_inputs"]}
        if key.history > 1:
            assert WEIGHTS in feed
        got = dict(zip(entry["outputs"], session.run(entry["outputs"], {i.name: feed[i.name] for i in session.get_inputs()})))
        expected = {f"output.{i}": o for i, o in enumerate(outputs)} | {PRESENT + n: t for n, t in produced.items()}
        for name, value in expected.items():
            scale = float(value.abs().max()) or 1.0
            assert float(np.abs(got[name] - value.numpy()).max()) / scale < 1e-4, (key, name)
        kinds.add(key.variant.value)
    assert kinds == {"full", "skip", "block", "token"}


RUNNER = """
import sys
sys.modules["torch"] = None  # any torch import fails
import numpy as np
from xslim_compile.deploy import Runner
data = np.load(sys.argv[2])
runner = Runner(sys.argv[1])
outputs = []
with runner.generation(int(data["steps"])):
    for t in data["timesteps"]:
        outputs.append(runner(hidden_states=data["hidden_states"], timestep=np.full((2,), t, dtype=np.float32),
                              class_labels=data["class_labels"])[0])
np.save(sys.argv[3], np.stack(outputs))
print("|".join(key for _, key, _ in runner.trace))
assert not any(name == "torch" or name.startswith("torch.") for name in sys.modules if sys.modules[name] is not None)
"""


def test_torch_free_runner_repeats_the_generation(exported, tmp_path):
    import subprocess
    import sys

    opt, _, path, ran = exported
    decisions = [str(key) for key in ran[:len(SCHEDULE)]]  # the export's generation (the rerun below adds more)
    inputs = dit_inputs()
    timesteps = [900.0 - 100 * t for t in range(len(SCHEDULE))]
    expected = []
    with torch.no_grad(), opt.generation(len(SCHEDULE)):
        for t in timesteps:
            expected.append(opt(**{**inputs, "timestep": torch.full((2,), t)}).sample)
    np.savez(tmp_path / "in.npz", steps=len(SCHEDULE), timesteps=np.array(timesteps, dtype=np.float32),
             hidden_states=inputs["hidden_states"].numpy(), class_labels=inputs["class_labels"].numpy())
    script = tmp_path / "run.py"
    script.write_text(RUNNER)
    done = subprocess.run([sys.executable, str(script), str(path), str(tmp_path / "in.npz"), str(tmp_path / "out.npy")],
                          capture_output=True, text=True, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().split("|") == decisions   # the same decisions, call by call
    got, want = np.load(tmp_path / "out.npy"), torch.stack(expected).numpy()
    assert float(np.abs(got - want).max()) / float(np.abs(want).max()) < 1e-4


def test_runner_sessions_share_one_copy_of_each_weight(exported):
    from xslim_compile.deploy import Runner

    opt, _, path, _ = exported
    shared, copied = Runner(path), Runner(path, share_weights=False)
    inputs = {k: v.numpy() for k, v in dit_inputs().items()}
    for runner in (shared, copied):
        with runner.generation(len(SCHEDULE)):
            runner.outputs = [runner(**{**inputs, "timestep": np.full((2,), 900.0 - 100 * t, dtype=np.float32)})[0]
                              for t in range(len(SCHEDULE))]
    assert all(np.array_equal(a, b) for a, b in zip(shared.outputs, copied.outputs))
    entries = [v for v in read_manifest(path)["signatures"][0]["variants"] if v["file"] in shared._sessions]
    assert len(entries) >= 4
    # one OrtValue per distinct tensor of weights.bin, over every session the generation opened
    assert len(shared._shared) == len({e["offset"] for v in entries for e in v["external"]}) > 0
    assert shared._weights is not None and not copied._shared


def test_runner_keeps_cfg_branches_apart(exported):
    from xslim_compile.deploy import Runner

    opt, _, path, _ = exported
    runner = Runner(path)
    cond = dit_inputs()
    uncond = {**cond, "class_labels": torch.full_like(cond["class_labels"], 9), "hidden_states": cond["hidden_states"] * 0.5}
    expected, got = [], []
    with torch.no_grad(), opt.generation(len(SCHEDULE)), runner.generation(len(SCHEDULE)):
        for t in range(len(SCHEDULE)):
            for name, inputs in (("cond", cond), ("uncond", uncond)):
                inputs = {**inputs, "timestep": torch.full((2,), 900.0 - 100 * t)}
                with opt.cache_context(name):
                    expected.append(opt(**inputs).sample.numpy())
                with runner.cache_context(name):
                    got.append(runner(**{k: v.numpy() for k, v in inputs.items()})[0])
    assert [key for _, key, _ in runner.trace][::2] == [key for _, key, _ in runner.trace][1::2]
    assert "skip(history=2)" in [key for _, key, _ in runner.trace]
    want = np.stack(expected)
    assert float(np.abs(np.stack(got) - want).max()) / float(np.abs(want).max()) < 1e-4


def test_runner_runs_full_after_a_non_finite_cache_as_the_module_does(tmp_path):
    from xslim_compile.deploy import Runner

    schedule = ["full", "full", "skip", "skip", "full", "skip"]
    opt = xs.optimize(make_dit(), xs.XSlimConfig(schedule=schedule, estimator="taylor1"))
    inputs = dit_inputs()
    poisoned = inputs["hidden_states"].clone()
    poisoned[0, 0, 0, 0] = float("nan")  # step 1's caches hold NaN: the skips after it must run full
    calls = [{**inputs, "hidden_states": poisoned if t == 1 else inputs["hidden_states"],
              "timestep": torch.full((2,), 900.0 - 100 * t)} for t in range(len(schedule))]
    with torch.no_grad(), opt.generation(len(schedule)):
        opt(**calls[0])
    path = xs.export(opt, tmp_path / "b", example_inputs=calls[0])
    with torch.no_grad(), opt.generation(len(schedule)):
        for kw in calls:
            opt(**kw)
    expected = [r.variant for r in list(opt.trace)[-len(schedule):]]
    assert expected[2] == "full" and "non-finite" in list(opt.trace)[-len(schedule) + 2].reason
    runner = Runner(path)
    with runner.generation(len(schedule)):
        for kw in calls:
            runner(**{k: v.numpy() for k, v in kw.items()})
    assert [key.split("(")[0].split("+")[0] for _, key, _ in runner.trace] == expected
    assert "non-finite" in runner.trace[2][2]


def test_manifest_may_not_point_outside_the_bundle(exported, tmp_path):
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(exported[2], copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["signatures"][0]["variants"][0]["file"] = "../elsewhere.onnx"
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(xs.BundleError, match="refers to '../elsewhere.onnx', which its file list does not hold"):
        read_manifest(copy)
    manifest["files"]["../elsewhere.onnx"] = "0" * 64
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(xs.BundleError, match="not a plain file name"):
        read_manifest(copy)


def test_export_refuses_a_controller_the_bundle_cannot_repeat(tmp_path):
    from xslim_compile.runtime.controller import EveryNController

    opt = xs.optimize(make_dit(num_layers=2), xs.XSlimConfig(), controller=EveryNController(2))
    with torch.no_grad():
        opt(**dit_inputs())
    with pytest.raises(xs.ConfigError, match="runs a EveryNController given to optimize"):
        xs.export(opt, tmp_path / "b")


def test_runner_refuses_wrong_inputs(exported):
    from xslim_compile.deploy import Runner

    runner = Runner(exported[2])
    inputs = {k: v.numpy() for k, v in dit_inputs().items()}
    with pytest.raises(xs.BundleError, match="inside `with runner.generation"):
        runner(**inputs)
    with runner.generation(4):
        with pytest.raises(xs.BundleError, match=r"input 'hidden_states' expected shape \[2, 4, 8, 8\] dtype float32, "
                                                 r"got shape \[2, 4, 8, 9\]"):
            runner(**{**inputs, "hidden_states": np.zeros((2, 4, 8, 9), dtype=np.float32)})
        with pytest.raises(xs.BundleError, match="expects inputs"):
            runner(hidden_states=inputs["hidden_states"])


def test_bundle_layout_and_shared_weights(exported):
    opt, _, path, _ = exported
    manifest = read_manifest(path)
    weights = path / WEIGHTS_FILE
    assert manifest["weights"]["bytes"] == weights.stat().st_size
    large = sum(p.numel() * p.element_size() for p in [*opt.model.parameters(), *opt.model.buffers()]
                if p.numel() * p.element_size() > INLINE_LIMIT)
    count = sum(1 for p in [*opt.model.parameters(), *opt.model.buffers()] if p.numel() * p.element_size() > INLINE_LIMIT)
    # each large parameter once (plus alignment), nothing more, although six graphs use them
    assert large <= weights.stat().st_size <= large + 64 * count
    files = [v["file"] for v in manifest["signatures"][0]["variants"]]
    assert len(files) >= 5 and set(manifest["files"]) == set(files) | {WEIGHTS_FILE}
    for file in files:
        model = onnx.load(str(path / file), load_external_data=False)
        assert model.opset_import[0].version >= 18
        for init in model.graph.initializer:
            if init.data_location == onnx.TensorProto.EXTERNAL:
                location = {e.key: e.value for e in init.external_data}
                assert location["location"] == WEIGHTS_FILE and int(location["offset"]) % 64 == 0
            else:
                assert len(onnx.numpy_helper.to_array(init).tobytes()) <= INLINE_LIMIT, (file, init.name)


def test_altered_truncated_missing_and_newer_bundles_are_refused(exported, tmp_path):
    import shutil

    path = exported[2]
    copy = tmp_path / "b"
    shutil.copytree(path, copy)
    graph = next(copy.glob("*.onnx"))
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 1
    graph.write_bytes(bytes(data))
    with pytest.raises(xs.BundleError, match=graph.name):
        read_manifest(copy)
    shutil.copy(path / graph.name, graph)
    (copy / WEIGHTS_FILE).write_bytes((path / WEIGHTS_FILE).read_bytes()[:-10])
    with pytest.raises(xs.BundleError, match=f"{WEIGHTS_FILE}.*altered or truncated"):
        read_manifest(copy)
    (copy / WEIGHTS_FILE).unlink()
    with pytest.raises(xs.BundleError, match=f"{WEIGHTS_FILE}: listed in the manifest, missing"):
        read_manifest(copy)
    shutil.copy(path / WEIGHTS_FILE, copy / WEIGHTS_FILE)
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["schema"] = SCHEMA_VERSION + 1
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(xs.BundleError, match=f"schema {SCHEMA_VERSION + 1} is newer .* \\({SCHEMA_VERSION}\\)"):
        read_manifest(copy)


def test_export_refuses_what_it_cannot_write(tmp_path):
    opt = xs.optimize(make_dit(num_layers=2), xs.XSlimConfig())
    with pytest.raises(xs.ConfigError, match="captured no input signature yet"):
        xs.export(opt, tmp_path / "a")
    prebuilt = xs.optimize(make_dit(num_layers=2), xs.XSlimConfig(schedule=["full", "skip"], estimator="taylor1"))
    manifest = read_manifest(xs.export(prebuilt, tmp_path / "e", example_inputs=dit_inputs()))
    assert {v["file"] for v in manifest["signatures"][0]["variants"]} >= {"s0.full.onnx", "s0.skip_history=2.onnx"}
    with torch.no_grad():
        opt(**dit_inputs())
    with pytest.raises(xs.ConfigError, match="format 'trt' is not supported; supported: 'onnx', 'pt2'"):
        xs.export(opt, tmp_path / "b", format="trt")
    auto = xs.optimize(make_dit(num_layers=2), xs.XSlimConfig(schedule=["full", "block"]))
    _generation(auto, dit_inputs(), steps=2)
    with pytest.raises(xs.ConfigError, match=r"automatic rule .* XSlimConfig\(block_reuse="):
        xs.export(auto, tmp_path / "d")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x").write_text("")
    with pytest.raises(xs.ConfigError, match="not empty"):
        xs.export(opt, tmp_path / "c")


def test_the_manifest_reader_imports_neither_torch_nor_numpy():
    from .test_rules import imports_closure

    modules = imports_closure(PACKAGE / "bundle" / "manifest.py")
    assert not {m.split(".")[0] for m in modules} & {"torch", "numpy"}


def test_command_line_export_and_run(tmp_path):
    import subprocess
    import sys

    make_dit(num_layers=2).save_pretrained(tmp_path / "model")
    inputs = dit_inputs()
    steps = 4
    np.savez(tmp_path / "steps.npz", hidden_states=np.stack([inputs["hidden_states"].numpy()] * steps),
             timestep=np.stack([np.full((2,), 900.0 - 200 * t, dtype=np.float32) for t in range(steps)]),
             class_labels=np.stack([inputs["class_labels"].numpy()] * steps))
    cli = [sys.executable, "-m", "xslim_compile.cli"]
    done = subprocess.run(cli + ["export", str(tmp_path / "model"), str(tmp_path / "b"), "--inputs",
                                 str(tmp_path / "steps.npz"), "--schedule", "full,full,skip,full", "--estimator", "taylor1"],
                          capture_output=True, text=True, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    # run: torch made unimportable for the whole command
    code = "import sys; sys.modules['torch'] = None; from xslim_compile.cli import main; main(sys.argv[1:])"
    done = subprocess.run([sys.executable, "-c", code, "run", str(tmp_path / "b"), "--inputs", str(tmp_path / "steps.npz"),
                           "--out", str(tmp_path / "out.npz")], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line.split()[1] for line in done.stdout.strip().splitlines()] == ["full", "full", "skip(history=2)", "full"]
    out = np.load(tmp_path / "out.npz")["output.0"]
    model = make_dit(num_layers=2)
    with torch.no_grad():
        last = model(hidden_states=inputs["hidden_states"], timestep=torch.full((2,), 300.0),
                     class_labels=inputs["class_labels"]).sample.numpy()
    assert out.shape[0] == steps and float(np.abs(out[-1] - last).max()) / float(np.abs(last).max()) < 1e-4
    bad = subprocess.run(cli + ["run", str(tmp_path / "model"), "--inputs", str(tmp_path / "steps.npz"), "--out",
                                str(tmp_path / "x.npz")], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert bad.returncode == 2 and "no manifest.json" in bad.stderr


PATTERN = ["skip", "block", "skip", "token", "skip", "full"]


def _reference():
    from benchmarks.reference.model import load_dit

    g = torch.Generator().manual_seed(3)
    return load_dit(), lambda: dict(hidden_states=torch.randn(2, 1, 32, 32, generator=g), timestep=torch.full((2,), 500.0),
                                    class_labels=torch.tensor([3, 10]))


@pytest.mark.parametrize("family", ["reference", "dit", "pixart", "sd3", "flux"])
def test_fifty_step_generation_through_the_runner(family, tmp_path):
    """A whole 50-step generation (Euler-like updates, so errors propagate): the runner makes the
    PyTorch module's decision at every step and ends within 1e-4 of its sample."""
    from xslim_compile.deploy import Runner

    from .zoo import FAMILIES

    if family == "reference":  # the trained reference DiT (12 blocks, 256 tokens)
        model, make_inputs = _reference()
    else:
        make, make_inputs = FAMILIES[family]
        model = make()
    steps = 50
    schedule = ["full", "full"] + [PATTERN[i % len(PATTERN)] for i in range(steps - 2)]
    opt = xs.optimize(model, xs.XSlimConfig(schedule=schedule, estimator="taylor1", block_reuse=(1,)))
    inputs = make_inputs()
    scale = 1000.0 if family != "flux" else 1.0
    times = np.linspace(0.999, 0.0, steps, dtype=np.float32) * scale
    ran = []
    opt.observers.append(lambda info, key, state, latent: ran.append(str(key)))

    def generate(call, to_tensor):
        x = inputs["hidden_states"].numpy()
        for t in times:
            out = call({**{k: to_tensor(v.numpy()) for k, v in inputs.items()}, "hidden_states": to_tensor(x),
                        "timestep": to_tensor(np.full((2,), t, dtype=np.float32))})
            x = x - 0.02 * np.asarray(out)[:, :x.shape[1]]  # DiT: learned sigma in the other channels
        return x

    with torch.no_grad(), opt.generation(steps):
        expected = generate(lambda kw: opt(**kw).sample.numpy(), torch.from_numpy)
    path = xs.export(opt, tmp_path / family)
    runner = Runner(path)
    with runner.generation(steps):
        got = generate(lambda kw: runner(**kw)[0], lambda a: a)
    assert [key for _, key, _ in runner.trace] == ran
    assert {k.split("(")[0].split("+")[0] for k in ran} >= {"full", "skip", "block", "token"}
    assert float(np.abs(got - expected).max()) / float(np.abs(expected).max()) < 1e-4


def test_deploy_benchmark_tiny_run(tmp_path):
    """Smoke test of benchmarks.deploy (no timing asserted): every exported variant timed both ways,
    the bundle and runner sizes measured."""
    from benchmarks import deploy

    result = deploy.main(["--tiny", "--rounds", "1", "--no-pt2", "--out", str(tmp_path / "d.json")])
    (entry,) = result["models"]
    assert {key.split("(")[0].split("+")[0] for key in entry["variants"]} == {"full", "skip", "block", "token"}
    assert all(row["torch_ms"] > 0 and row["onnxruntime_ms"] > 0 for row in entry["variants"].values())
    assert entry["runner_error"] is None and entry["runner_rss_bytes"] > 0
    assert entry["weights_bin_bytes"] <= entry["parameter_bytes"] < entry["bundle_bytes"]


def test_online_controller_replayed_by_the_runner(tmp_path):
    """The dual-threshold controller in the runner, fed the PyTorch run's indicator values: the same
    decisions at every step, outputs within 1e-3."""
    from xslim_compile.deploy import Runner
    from xslim_compile.plan import ControllerSettings, Plan

    steps = 20
    settings = ControllerSettings(0.05, 0.12, ((0.0, 1.0), (1.0, 1.0)), ((0.0, "token"),), first_full=2,
                                  max_skips=3, estimator="taylor1")
    opt = xs.optimize(make_dit(), xs.XSlimConfig(plan=Plan(0.05, 0.12, controller=settings,
                                                           source={"num_steps": steps})))
    inputs = dit_inputs()
    times = np.linspace(999.0, 0.0, steps, dtype=np.float32)

    def generate(call, to_tensor):
        x, outs = inputs["hidden_states"].numpy(), []
        for i, t in enumerate(times):
            out = call(i, {**{k: to_tensor(v.numpy()) for k, v in inputs.items()}, "hidden_states": to_tensor(x),
                           "timestep": to_tensor(np.full((2,), t, dtype=np.float32))})
            x = x - 0.05 * np.asarray(out)[:, :x.shape[1]]
            outs.append(np.asarray(out))
        return np.stack(outs)

    ran = []
    opt.observers.append(lambda info, key, state, latent: ran.append(str(key)))
    with torch.no_grad(), opt.generation(steps):
        expected = generate(lambda i, kw: opt(**kw).sample.numpy(), torch.from_numpy)
    indicators = [r.signals.get("indicator") for r in list(opt.trace)[-steps:]]
    assert {k.split("(")[0].split("+")[0] for k in ran} >= {"full", "skip", "token"}, ran
    runner = Runner(xs.export(opt, tmp_path / "online"))
    with runner.generation(steps):
        got = generate(lambda i, kw: runner(**kw, indicator=indicators[i])[0], lambda a: a)
    assert [key for _, key, _ in runner.trace] == ran
    assert float(np.abs(got - expected).max()) / float(np.abs(expected).max()) < 1e-3
    # and with the indicator the runner computes itself, in numpy
    runner.trace.clear()
    with runner.generation(steps):
        generate(lambda i, kw: runner(**kw)[0], lambda a: a)
    assert [key for _, key, _ in runner.trace] == ran


def test_pt2_bundle_loads_without_capturing_again(tmp_path, monkeypatch):
    schedule = ["full", "full", "skip", "token", "full", "skip"]
    opt = xs.optimize(make_dit(), xs.XSlimConfig(schedule=schedule))
    inputs = dit_inputs()

    def generate(module):
        with torch.no_grad(), module.generation(len(schedule)):
            return [module(**{**inputs, "timestep": torch.full((2,), 900.0 - 100 * t)}).sample
                    for t in range(len(schedule))]

    expected = generate(opt)
    path = xs.export(opt, tmp_path / "pt2", format="pt2")
    assert not (path / WEIGHTS_FILE).exists() and read_manifest(path)["format"] == "pt2"

    def no_capture(*args, **kwargs):
        raise AssertionError("xs.load captured the model again")

    loaded = xs.load(path, make_dit(seed=5))  # other weight values: the packages hold their own
    monkeypatch.setattr(torch.export, "export", no_capture)
    got = generate(loaded)
    monkeypatch.undo()
    assert [r.variant for r in list(loaded.trace)] == [r.variant for r in list(opt.trace)[-len(schedule):]]
    for a, b in zip(got, expected):
        assert float((a - b).abs().max()) / float(b.abs().max()) < 1e-5
    with pytest.raises(xs.BundleError, match="no exported signature takes this call"):
        loaded(**dit_inputs(batch=3))
    from xslim_compile.deploy import Runner

    with pytest.raises(xs.BundleError, match="'pt2' bundle"):
        Runner(path)


@pytest.mark.parametrize("key", ["HunyuanVideoTransformer3DModel", "AllegroTransformer3DModel"])
def test_zoo_models_that_needed_export_rewrites(key, tmp_path):
    """HunyuanVideo masks with masked_fill on a bool tensor (onnxruntime's Where has no bool kernel) and
    Allegro takes its RoPE as nested tuples (graph inputs name_0_0_...): both run through the runner."""
    from benchmarks.coverage import wake
    from xslim_compile.deploy import Runner

    from .coverage_zoo import entries

    entry = entries()[key]
    t0, t1 = entry.timesteps
    calls = [entry.inputs(t0 + (t1 - t0) * i / 5, 0) for i in range(6)]
    schedule = ["full", "full", "skip", "block", "skip", "full"]
    opt = xs.optimize(wake(entry.make()), xs.XSlimConfig(schedule=schedule, estimator="taylor1", block_reuse=(1,)))
    with torch.no_grad(), opt.generation(len(schedule)):
        expected = [opt(**kw) for kw in calls]
    expected = [out[0] if isinstance(out, tuple) else out.sample for out in expected]  # return_dict=False
    runner = Runner(xs.export(opt, tmp_path / "b"))

    def numpy(value):
        return value.numpy() if isinstance(value, torch.Tensor) else (
            tuple(numpy(v) for v in value) if isinstance(value, (tuple, list)) else value)

    with runner.generation(len(schedule)):
        got = [runner(**{k: numpy(v) for k, v in kw.items()})[0] for kw in calls]
    for a, b in zip(got, expected):
        assert float(np.abs(a - b.numpy()).max()) / float(b.abs().max()) < 1e-4
