"""xs.load: a pt2 bundle back into the PyTorch runtime, without capturing the model again.

The model is still needed (its forward signature normalises calls, its attributes are forwarded, its
fingerprint guards against changes), but not its weights' values: each AOTInductor package holds
its own. A call whose signature the bundle does not hold raises BundleError, as does a variant the
bundle lacks when it is the full step (other missing variants run full, as unbuildable ones do).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils import _pytree as pytree

from ..config import XSlimConfig
from ..errors import BundleError
from ..plan import Plan
from ..runtime.guards import model_fingerprint
from ..runtime.module import OptimizedDenoiser
from ..runtime.variant_set import CompiledVariant, VariantSet
from .manifest import key_from_dict, read_manifest


def load(path: str | Path, model: torch.nn.Module) -> OptimizedDenoiser:
    directory = Path(path)
    manifest = read_manifest(directory)
    if manifest.get("format") != "pt2":
        raise BundleError(f"{directory}: xs.load reads pt2 bundles (xs.export(..., format='pt2')); this one is "
                          f"{manifest.get('format', 'onnx')!r}: run it with xslim_compile.deploy.Runner")
    if type(model).__name__ != manifest["model"]["class"]:
        raise BundleError(f"{directory}: the bundle was exported from a {manifest['model']['class']}, "
                          f"not a {type(model).__name__}")
    runtime = manifest["runtime"]
    config = XSlimConfig(plan=Plan.from_dict(manifest["plan"]) if manifest.get("plan") else None,
                         schedule=manifest.get("schedule"), estimator=runtime["estimator"],
                         token_ratio=runtime["token_ratio"],
                         block_reuse=tuple(runtime["block_reuse"]) if runtime["block_reuse"] is not None else None,
                         check_finite=runtime.get("check_finite", True))
    signatures = {s["call"]: s for s in manifest["signatures"]}

    def build(model, kwargs, signature, config) -> VariantSet:
        entry = signatures.get(signature.describe())
        if entry is None:
            raise BundleError(f"{directory}: no exported signature takes this call ({signature.describe()}); "
                              f"the bundle holds: {' | '.join(signatures)}")
        records = {key_from_dict(v["key"]): v for v in entry["variants"]}

        def factory(key) -> CompiledVariant:
            record = records.get(key)
            if record is None:
                raise BundleError(f"{directory}: variant {key} is not in the bundle; run a generation that uses "
                                  f"it before xs.export")
            package = torch._inductor.aoti_load_package(str(directory / record["file"]))
            return CompiledVariant(key, lambda *args: _owned(package(*[a.contiguous() for a in args])), tuple(record["call_cache_inputs"]), tuple(record["cache_outputs"]),
                                   record["num_user_outputs"])

        return VariantSet(signature, pytree.treespec_loads(entry["out_spec"]), tuple(entry["tensor_positions"]),
                          None, entry["image_tokens"], factory, model_fingerprint(model), config.max_block_variants)

    return OptimizedDenoiser(model.eval(), config, build)


def _owned(outputs) -> list:
    """A package's outputs may live in memory it reuses on its next call; the runtime keeps some of
    them as caches across calls, so each call's outputs are copied out. (Inputs are made contiguous:
    a package is compiled for the contiguous inputs it was exported with, and cached K/V can be
    strided views; passed as they are, the token step was wrong by 0.38 relative.)"""
    return [t.clone() for t in outputs]
