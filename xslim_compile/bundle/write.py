"""xs.export: the variant graphs an optimized module has built, as ONNX files sharing one weights file.

Each variant is exported from its own rewritten graph (torch.onnx, dynamo exporter), so the bundle
runs what the PyTorch runtime runs: every cache (residuals, K/V, forecast history and weights) is a
named graph input or output. Constant folding is limited to tensors of at most 1 KiB, so that no
graph folds a transposed copy of a weight; every initializer above 1 KiB goes to `weights.bin`
once (by content), so variants share their parameters. Caches are named like an exported LLM's
past/present key-values: graph input `past.<cache>`, graph output `present.<cache>` (a token step
reads and writes `delta_prev.*`); the forecast weights are the input `forecast_weights`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import warnings
from pathlib import Path

import torch
from torch.utils import _pytree as pytree

from .. import __version__
from ..errors import BundleError, ConfigError, XSlimError
from ..forecast import WEIGHTS
from ..plan import Variant, config_hash
from ..runtime.controller import controller_for
from ..runtime.rules import VariantKey
from .manifest import key_dict, write_manifest

WEIGHTS_FILE = "weights.bin"
PAST, PRESENT = "past.", "present."
INLINE_LIMIT = 1024      # bytes: larger initializers go to WEIGHTS_FILE
ALIGN = 64               # offsets in WEIGHTS_FILE (lets a runner map them without copies)
VERIFY_TOLERANCE = 1e-4  # relative, fp32: onnxruntime against the PyTorch variant
PT2_TOLERANCE = 1e-5     # relative, fp32: an AOTInductor package against the PyTorch variant


def export(opt, path: str | Path, format: str = "onnx", *, example_inputs=None, opset: int = 18,
           verify: bool = True) -> Path:
    """Write a bundle directory for every input signature `opt` has captured and every variant it
    has built for it (run the generations you will deploy first: their variants are the ones built).
    format "onnx": ONNX graphs sharing weights.bin, for deploy.Runner (onnxruntime); "pt2": one
    AOTInductor package per variant, for xs.load (the PyTorch runtime without capturing again).
    example_inputs: a call's keyword arguments (or a list of them) to capture first, one full step
    each, which also builds the variants the configuration names up front (skip per forecast order,
    the configured block set and token bucket); a generation builds exactly the ones it uses.
    verify: run each graph once on the export inputs and compare (onnx 1e-4, pt2 1e-5)."""
    if format not in ("onnx", "pt2"):
        raise ConfigError(f"xs.export: format {format!r} is not supported; supported: 'onnx', 'pt2'")
    if format == "onnx":
        try:
            import onnx_ir  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError as error:
            raise ConfigError(f"xs.export needs onnx and onnxscript ({error}); pip install 'xslim-compile[onnx]'") from None
    if example_inputs is not None:
        for kwargs in [example_inputs] if isinstance(example_inputs, dict) else example_inputs:
            with torch.no_grad(), opt.generation(1):
                opt(**kwargs)
    sets = getattr(opt, "_variant_sets", None)
    if not sets:
        raise ConfigError(f"xs.export: {type(opt).__name__} has captured no input signature yet; call it (run a "
                          f"generation) first, or give example_inputs=: the bundle holds the variants built for the "
                          f"captured signatures")
    config = opt.xslim_config
    if type(opt.controller) is not type(controller_for(config.plan, config.schedule)):
        raise ConfigError(f"xs.export: this module runs a {type(opt.controller).__name__} given to optimize(); a bundle "
                          f"repeats only what the configuration implies (a plan, the online plan or a schedule)")
    fixed = config.block_reuse is not None or (config.plan is not None and config.plan.entries is not None and all(
        e.reuse is not None for e in config.plan.entries if e.variant is Variant.BLOCK) and config.plan.controller is None)
    blocks = config.uses(Variant.BLOCK) or any(k.variant is Variant.BLOCK for v in sets.values() for k in v.built())
    if blocks and not fixed:
        raise ConfigError("xs.export: block steps choose their reused blocks with the automatic rule (block_reuse=None), "
                          "which a bundle cannot repeat; optimize with XSlimConfig(block_reuse=(...)) or a plan whose "
                          "block entries name their blocks, run the generation again, then export")
    directory = Path(path)
    if directory.exists() and any(directory.iterdir()):
        raise ConfigError(f"xs.export: {directory} exists and is not empty; give a new or empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    weights = _WeightsFile(directory / WEIGHTS_FILE) if format == "onnx" else None  # pt2 packages hold theirs
    signatures = []
    with torch.no_grad():
        for index, variants in enumerate(sets.values()):
            _add_shorter_forecasts(variants)
            records = []
            for key, compiled in variants.built().items():
                name = f"s{index}.{_slug(str(key))}.{format}"
                records.append(_export_variant(compiled, directory / name, weights, opset, verify) if format == "onnx"
                               else _export_pt2(compiled, directory / name, verify))
            signatures.append({"id": f"s{index}", "image_tokens": variants.image_tokens,
                               # what xs.load needs to rebuild the runtime's VariantSet for this signature
                               "call": variants.signature.describe(),
                               "out_spec": pytree.treespec_dumps(variants.out_spec),
                               "tensor_positions": list(variants.tensor_positions),
                               # variants that could not be built: their steps run full (the runner's rules
                               # need to know, as the runtime's do)
                               "failed": {key.variant.value if key == VariantKey(key.variant) else str(key): why
                                          for key, why in variants.failed.items()},
                               "variants": records})
    if weights is not None:
        weights.close()
    model, plan = opt.model, config.plan
    write_manifest(directory, {
        "format": format,
        "caches": {"input_prefix": PAST, "output_prefix": PRESENT, "forecast_weights": WEIGHTS},
        "library": {"xslim_compile": __version__, "torch": torch.__version__, "onnx": _version("onnx"),
                    "onnxscript": _version("onnxscript"), "onnx_opset": opset},
        "model": {"class": type(model).__name__, "config_hash": config_hash(model)},
        "signatures": signatures,
        "plan": plan.to_dict() if plan is not None else None,
        "schedule": [v.value for v in config.schedule] if config.schedule is not None else None,
        # what the decision rules read besides the plan (runtime/rules.py; the runner applies them)
        "runtime": {"estimator": config.estimator, "token_ratio": config.token_ratio,
                    "check_finite": config.check_finite,
                    "block_reuse": list(config.block_reuse) if config.block_reuse is not None else None,
                    "cache_depth": opt._depth},
        "weights": {"file": WEIGHTS_FILE if weights is not None else None,
                    "bytes": weights.size if weights is not None else 0,
                    "parameter_bytes": sum(t.numel() * t.element_size()
                                           for t in [*model.parameters(), *model.buffers()])},
    })
    return directory


def _for_onnx(gm):
    """The graph with two rewrites onnxruntime needs, on a copy (the runtime's graph is left as it is;
    the copy shares its parameters): an aten squeeze of a dimension that is not 1 is dropped (a no-op
    in PyTorch; the exporter emits a Squeeze that onnxruntime rejects: PixArt), and masked_fill of a
    bool tensor becomes logical ops (onnxruntime's CPU Where has no bool kernel: HunyuanVideo's mask)."""
    from torch import fx

    aten = torch.ops.aten
    graph = fx.Graph()
    graph.output(graph.graph_copy(gm.graph, {}))
    changed = False
    for node in list(graph.nodes):
        if node.op != "call_function":
            continue
        source = node.args[0] if node.args else None
        val = source.meta.get("val") if isinstance(source, fx.Node) else None
        if not isinstance(val, torch.Tensor):
            continue
        if node.target in (aten.squeeze.dim, aten.squeeze.dims):
            dims = [node.args[1]] if isinstance(node.args[1], int) else list(node.args[1])
            if all(val.shape[d] != 1 for d in dims):
                node.replace_all_uses_with(source)
                graph.erase_node(node)
                changed = True
        elif node.target is aten.masked_fill.Scalar and val.dtype == torch.bool:
            mask, value = node.args[1], bool(node.args[2])
            with graph.inserting_before(node):
                if value:  # x where not mask, True where mask
                    new = graph.call_function(aten.logical_or.default, (source, mask))
                else:
                    new = graph.call_function(aten.logical_and.default,
                                              (source, graph.call_function(aten.logical_not.default, (mask,))))
            new.meta.update(node.meta)
            node.replace_all_uses_with(new)
            graph.erase_node(node)
            changed = True
    return fx.GraphModule(gm, graph) if changed else gm


def _add_shorter_forecasts(variants) -> None:
    """A forecast falls back to fewer residuals early in a generation or after a non-finite history:
    build those variants too, so that the bundle can run every fallback of what was built."""
    for key in list(variants.built()):
        for history in range(1, key.history):
            shorter = dataclasses.replace(key, history=history)
            if shorter not in variants.failed:
                try:
                    variants.get(shorter)
                except XSlimError as error:  # recorded: the runner then runs those steps full
                    variants.failed[shorter] = f"{type(error).__name__}: {error}"


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9+=-]+", "_", text).strip("_")


def _example_inputs(compiled) -> list[torch.Tensor]:
    """Inputs of the variant's graph, made from its placeholders' recorded shapes (values do not
    matter for export; verification compares both runtimes on the same ones)."""
    g = torch.Generator().manual_seed(0)
    args = []
    placeholders = [n for n in compiled.run.graph.nodes if n.op == "placeholder"]
    names = [None] * (len(placeholders) - len(compiled.cache_inputs)) + list(compiled.cache_inputs)
    for node, name in zip(placeholders, names):
        if name == WEIGHTS:
            args.append(torch.randn(compiled.key.history, generator=g))
            continue
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise BundleError(f"xs.export: input {node.name} of variant {compiled.key} has no recorded tensor shape")
        if val.dtype.is_floating_point:
            args.append(torch.randn(tuple(val.shape), generator=g).to(val.dtype))
        elif val.dtype == torch.bool:
            args.append(torch.ones(tuple(val.shape), dtype=torch.bool))
        else:
            args.append(torch.zeros(tuple(val.shape), dtype=val.dtype))
    return args


def _export_variant(compiled, file: Path, weights: "_WeightsFile", opset: int, verify: bool) -> dict:
    import onnxscript.optimizer

    args = _example_inputs(compiled)
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")  # "torchvision is not installed"
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # the variant graph is ATen already: its module's train/eval flag changes nothing
            warnings.filterwarnings("ignore", message="Exporting a model while it is in training mode")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            program = torch.onnx.export(_for_onnx(compiled.run), tuple(args), dynamo=True,
                                        opset_version=opset, optimize=False, verbose=False)
    except Exception as error:  # noqa: BLE001 - the exporter raises many types; name the variant
        raise BundleError(f"xs.export: variant {compiled.key} could not be exported to ONNX: "
                          f"{type(error).__name__}: {error}") from error
    finally:
        quiet.setLevel(level)
    model = program.model
    onnxscript.optimizer.optimize(model, input_size_limit=INLINE_LIMIT // 4, output_size_limit=INLINE_LIMIT // 4)
    n_user = len(args) - len(compiled.cache_inputs)
    inputs = [v.name for v in model.graph.inputs[:n_user]]
    graph_inputs = inputs + [name if name == WEIGHTS else PAST + name for name in compiled.cache_inputs]
    if len(model.graph.inputs) != len(graph_inputs):
        raise BundleError(f"xs.export: variant {compiled.key}: the ONNX graph has {len(model.graph.inputs)} inputs, "
                          f"the variant {len(graph_inputs)}")
    for value, name in zip(model.graph.inputs[n_user:], graph_inputs[n_user:]):
        value.name = name
    outputs = ([f"output.{i}" for i in range(compiled.num_user_outputs)]
               + [PRESENT + name for name in compiled.cache_outputs])
    if len(model.graph.outputs) != len(outputs):
        raise BundleError(f"xs.export: variant {compiled.key}: the ONNX graph has {len(model.graph.outputs)} "
                          f"outputs, the variant {len(outputs)}")
    for value, name in zip(model.graph.outputs, outputs):
        value.name = name
    for node in model.graph.all_nodes():  # the exporter's per-node stack traces and FX names: most of a file
        node.metadata_props.clear()
    external = [entry for value in list(model.graph.initializers.values())
                if (entry := weights.externalize(value, file.parent)) is not None]
    import onnx_ir

    onnx_ir.save(model, file)
    if verify:
        _verify(compiled, file, args, graph_inputs)
    # external: initializers in weights.bin, so that a runner can map them once for all graphs
    return _record(compiled, file, graph_inputs, args, outputs=outputs, external=external)


def _export_pt2(compiled, file: Path, verify: bool) -> dict:
    args = _example_inputs(compiled)
    try:
        program = torch.export.export(compiled.run, tuple(args), strict=False)
        torch._inductor.aoti_compile_and_package(program, package_path=str(file))
    except Exception as error:  # noqa: BLE001 - name the variant
        raise BundleError(f"xs.export: variant {compiled.key} could not be compiled with AOTInductor: "
                          f"{type(error).__name__}: {error}") from error
    if verify:
        got = [t.float().numpy() if t.dtype.is_floating_point else t.numpy()
               for t in torch._inductor.aoti_load_package(str(file))(*args)]
        _compare(compiled, file, list(range(len(got))), got, args, PT2_TOLERANCE)
    names = [n.name for n in compiled.run.graph.nodes if n.op == "placeholder"]
    return _record(compiled, file, names[:len(args) - len(compiled.cache_inputs)], args,
                   num_user_outputs=compiled.num_user_outputs)


def _verify(compiled, file: Path, args: list, names: list[str]) -> None:
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("xs.export(verify=True) needs onnxruntime; install it or pass verify=False") from None
    try:
        session = onnxruntime.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own types; name the variant
        raise BundleError(f"xs.export: onnxruntime cannot load {file.name} (variant {compiled.key}): "
                          f"{type(error).__name__}: {error}") from error
    used = {i.name for i in session.get_inputs()}  # an input the graph ignores is dropped by the exporter
    feed = {name: t.numpy() for name, t in zip(names, args) if name in used}
    _compare(compiled, file, [o.name for o in session.get_outputs()], session.run(None, feed), args,
             VERIFY_TOLERANCE)


def _compare(compiled, file: Path, names: list, got: list, args: list, tolerance: float) -> None:
    """The exported file's outputs against the PyTorch variant's on the same inputs (relative)."""
    for name, a, b in zip(names, got, compiled.run(*args)):
        b = b.float().numpy() if b.dtype.is_floating_point else b.numpy()
        scale = max(float(abs(b).max()), 1e-12) if b.size else 1.0
        error = float(abs(a.astype(b.dtype) - b).max()) / scale if b.size else 0.0
        if error > tolerance:
            raise BundleError(f"xs.export: {file.name} output {name} differs from the PyTorch variant "
                              f"{compiled.key} by {error:.2e} (relative; budget {tolerance:g})")


def _record(compiled, file: Path, input_names: list[str], args: list, **extra) -> dict:
    """A variant's manifest entry: its key, file, inputs and cache names (and format-specific extras)."""
    return {"key": key_dict(compiled.key), "file": file.name,
            "inputs": [_spec(name, t) for name, t in zip(input_names, args)],
            "cache_inputs": [n for n in compiled.cache_inputs if n != WEIGHTS],
            "cache_outputs": list(compiled.cache_outputs), "call_cache_inputs": list(compiled.cache_inputs),
            **extra}


def _spec(name: str, tensor: torch.Tensor) -> dict:
    return {"name": name, "shape": list(tensor.shape), "dtype": str(tensor.dtype).removeprefix("torch.")}


class _WeightsFile:
    """One file of initializer bytes, each distinct tensor once, at ALIGN-aligned offsets."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "wb")
        self._offsets: dict[str, int] = {}
        self.size = 0

    def externalize(self, value, base_dir: Path) -> dict | None:
        """Move a large initializer into the file; returns where it lies (None: it stays inline)."""
        import onnx_ir

        tensor = value.const_value
        if tensor is None or tensor.nbytes <= INLINE_LIMIT:
            return None
        data = tensor.tobytes()
        digest = hashlib.sha256(data).hexdigest()
        offset = self._offsets.get(digest)
        if offset is None:
            pad = -self.size % ALIGN
            self._file.write(b"\0" * pad)
            offset = self._offsets[digest] = self.size + pad
            self._file.write(data)
            self._file.flush()
            self.size = offset + len(data)
        value.const_value = onnx_ir.ExternalTensor(self.path.name, offset, len(data), tensor.dtype,
                                                   shape=tensor.shape, name=value.name, base_dir=base_dir)
        try:
            dtype = str(tensor.dtype.numpy())
        except (TypeError, ValueError):  # no numpy dtype (e.g. bfloat16): the runner loads it from the file
            dtype = None
        return {"name": value.name, "offset": offset, "length": len(data), "dtype": dtype,
                "shape": [int(d) for d in tensor.shape]}

    def close(self) -> None:
        self._file.close()
