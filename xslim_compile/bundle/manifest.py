"""The bundle manifest: what a bundle holds and the sha256 of each file. Pure Python (no torch, no
numpy), so that a runner without torch can check a bundle before loading anything from it."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import BundleError
from ..plan import Variant

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: str | Path, manifest: dict) -> Path:
    """Write manifest.json with the sha256 of every other file of the bundle."""
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name != MANIFEST)
    manifest = {**manifest, "schema": SCHEMA_VERSION, "files": {p.name: sha256_file(p) for p in files}}
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    return path


def read_manifest(directory: str | Path, check_files: bool = True) -> dict:
    """The bundle's manifest, after checking its schema, that every file it names is a plain file of the
    bundle listed with a hash, and (check_files) every file's sha256. The hashes find corruption; the
    manifest is not signed, and a pt2 bundle's packages are native code: load bundles you trust."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise BundleError(f"{directory}: no {MANIFEST}; not a bundle written by xs.export")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise BundleError(f"{path}: not valid JSON ({error})") from None
    schema = manifest.get("schema") if isinstance(manifest, dict) else None
    if not isinstance(schema, int) or schema < 1:
        raise BundleError(f"{path}: no schema version")
    if schema > SCHEMA_VERSION:
        raise BundleError(f"{path}: bundle schema {schema} is newer than this xslim_compile reads "
                          f"({SCHEMA_VERSION}); install a newer xslim_compile")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{path}: no file list with hashes")
    for name in _referenced(manifest):
        if name not in files:
            raise BundleError(f"{path}: refers to {name!r}, which its file list does not hold")
    for name, expected in files.items():
        file = directory / name
        if Path(name).name != name or name in (".", ".."):
            raise BundleError(f"{path}: file entry {name!r} is not a plain file name in the bundle")
        if file.is_symlink():
            raise BundleError(f"{file}: a symbolic link; a bundle holds plain files")
        if not file.is_file():
            raise BundleError(f"{file}: listed in the manifest, missing")
        if check_files:
            actual = sha256_file(file)
            if actual != expected:
                raise BundleError(f"{file}: sha256 {actual} differs from the manifest's {expected} "
                                  f"(altered or truncated)")
    return manifest


def _referenced(manifest: dict) -> list[str]:
    """Every file a manifest points to (graphs, weights)."""
    names = [v["file"] for s in manifest.get("signatures", []) for v in s.get("variants", [])]
    weights = (manifest.get("weights") or {}).get("file")
    return names + ([weights] if weights else [])


def key_dict(key) -> dict:
    """A VariantKey as the manifest writes it (only the fields its variant kind uses)."""
    out = {"variant": key.variant.value}
    if key.variant is Variant.BLOCK:
        out.update(reuse=list(key.reuse), probe=key.probe)
    if key.variant is Variant.TOKEN:
        out["tokens"] = key.tokens
    if key.variant is Variant.FULL:
        out.update(residuals=key.residuals, kv=key.kv)
    if key.variant in (Variant.SKIP, Variant.TOKEN):
        out["history"] = key.history
    return out


def key_from_dict(data: dict):
    """The VariantKey a manifest entry names (key_dict's inverse)."""
    from ..runtime.rules import VariantKey

    return VariantKey(Variant(data["variant"]), reuse=tuple(data.get("reuse", ())), tokens=data.get("tokens", 0),
                      residuals=data.get("residuals", False), kv=data.get("kv", False),
                      probe=data.get("probe", False), history=data.get("history", 1))
