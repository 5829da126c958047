"""Peer caching methods from other libraries, wrapped for the quality benchmark.

    dbcache             cache-dit's DBCache (Fn front blocks always run; the residual change of their
                        output decides whether the middle blocks reuse their cached residual; Bn back
                        blocks always run)
    dbcache_taylorseer  the same, the cached residual extrapolated by cache-dit's TaylorSeer calibrator
    magcache            diffusers' MagCache, its magnitude ratios calibrated by its own calibration mode

Each peer is a hooked deep copy of the model behind the model's call signature, with a
`generation(num_steps)` context manager that drops every cache at the start of a generation. All are
told that CFG runs as one batched call (cond and uncond halves in one batch).
"""
from __future__ import annotations

import ast
import contextlib
import copy
import io
import logging
from contextlib import contextmanager
from importlib import metadata

from torch import nn

PEERS = ("dbcache", "dbcache_taylorseer", "magcache")

# settings key -> (cache-dit DBCacheConfig field, cache-dit's default)
_DBCACHE_KEYS = {
    "Fn": ("Fn_compute_blocks", 8),
    "Bn": ("Bn_compute_blocks", 0),
    "residual_diff_threshold": ("residual_diff_threshold", 0.08),
    "max_warmup_steps": ("max_warmup_steps", 8),
    "warmup_interval": ("warmup_interval", 1),
    "max_cached_steps": ("max_cached_steps", -1),
    "max_continuous_cached_steps": ("max_continuous_cached_steps", -1),
}
_TAYLORSEER_KEYS = {"taylorseer_order": 1}
_MAGCACHE_KEYS = {"threshold": 0.06, "max_skip_steps": 3, "retention_ratio": 0.2}  # MagCacheConfig defaults

# Measured on 4 samples, DDIM-50, batched CFG (mean PSNR against full compute, share of the 600 block
# evaluations that ran): dbcache 33.4 dB / 0.65 and 17.6 dB / 0.30; dbcache_taylorseer at those steps
# 51.6 dB / 0.65 and 26.8 dB / 0.30; magcache 34.7 dB / 0.54 and 28.4 dB / 0.40.
PRESETS = {
    "dbcache": {"mild": {"Fn": 1, "Bn": 0, "residual_diff_threshold": 0.03, "max_warmup_steps": 8},
                "fast": {"Fn": 1, "Bn": 0, "residual_diff_threshold": 0.12, "max_warmup_steps": 4}},
    "magcache": {"mild": {"threshold": 0.02, "max_skip_steps": 2},
                 "fast": {"threshold": 0.1, "max_skip_steps": 4}},
}
PRESETS["dbcache_taylorseer"] = {k: {**v, "taylorseer_order": 1} for k, v in PRESETS["dbcache"].items()}


def versions() -> dict:
    """Installed versions of the peer libraries (None where not installed), for a results header."""
    out = {}
    for dist in ("cache-dit", "diffusers"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _resolve(name: str, settings: dict) -> dict:
    """Settings with the library defaults filled in; unknown names or keys raise ValueError."""
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    if name == "magcache":
        known = dict(_MAGCACHE_KEYS)
    else:
        known = {k: default for k, (_, default) in _DBCACHE_KEYS.items()}
        if name == "dbcache_taylorseer":
            known.update(_TAYLORSEER_KEYS)
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ValueError(f"unknown settings {unknown} for {name}; known: {sorted(known)}")
    return {**known, **settings}


def describe(name: str, settings: dict) -> str:
    """One line: the library, its version, the effective settings."""
    resolved = _resolve(name, settings)
    args = ", ".join(f"{k}={v}" for k, v in resolved.items())
    if name == "magcache":
        return f"diffusers {versions()['diffusers']} MagCache({args}), mag_ratios calibrated on the model"
    method = "DBCache+TaylorSeer" if name == "dbcache_taylorseer" else "DBCache"
    return f"cache-dit {versions()['cache-dit']} {method}({args}), enable_separate_cfg=False"


def make_peer(name: str, model: nn.Module, settings: dict, calibration: tuple[list[int], list[int]] | None = None,
              num_steps: int = 50) -> nn.Module:
    """A denoiser with the model's call signature and a `generation(num_steps)` context manager.
    `model` is never modified (work on a deep copy). `calibration` = (labels, seeds) for methods that
    calibrate (MagCache); raise ValueError if it is needed and missing. Unknown settings keys raise ValueError."""
    resolved = _resolve(name, settings)
    if name == "magcache":
        if calibration is None:
            raise ValueError("magcache needs calibration=(labels, seeds) to calibrate its magnitude ratios")
        return _MagCachePeer(model, resolved, calibration, num_steps)
    layers = len(model.transformer_blocks)
    if resolved["Fn"] < 1 or resolved["Bn"] < 0 or resolved["Fn"] + resolved["Bn"] > layers:
        raise ValueError(f"need Fn >= 1, Bn >= 0 and Fn + Bn <= {layers} blocks, got Fn={resolved['Fn']}, "
                         f"Bn={resolved['Bn']}")
    return _DBCachePeer(model, resolved, num_steps)


@contextmanager
def _quiet_cache_dit():
    # cache-dit logs its config at INFO on every enable; keep the benchmark's output readable
    log = logging.getLogger("CACHE_DIT")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


class _DBCachePeer(nn.Module):
    """cache-dit DBCache on a deep copy. DiT is one of cache-dit's registered models (adapter "DiT":
    transformer_blocks, ForwardPattern.Pattern_3, DiTPatchFunctor), so `enable_cache` takes the bare
    transformer; cache-dit then keeps a persistent context on it (no pipeline call to scope it)."""

    def __init__(self, model: nn.Module, settings: dict, num_steps: int) -> None:
        super().__init__()
        import cache_dit

        self.settings, self.num_steps = settings, num_steps
        self.model = copy.deepcopy(model)
        with _quiet_cache_dit():
            cache_dit.enable_cache(self.model, cache_config=self._cache_config(num_steps),
                                   calibrator_config=self._calibrator_config())

    def _cache_config(self, num_steps: int):
        from cache_dit import DBCacheConfig

        fields = {field: self.settings[key] for key, (field, _) in _DBCACHE_KEYS.items()}
        # one call per step carries both CFG halves: no separate CFG call to pair up
        return DBCacheConfig(**fields, enable_separate_cfg=False, num_inference_steps=num_steps)

    def _calibrator_config(self):
        if "taylorseer_order" not in self.settings:
            return None
        from cache_dit import TaylorSeerCalibratorConfig

        return TaylorSeerCalibratorConfig(taylorseer_order=self.settings["taylorseer_order"],
                                          enable_encoder_calibrator=False)  # DiT has no encoder stream

    @contextmanager
    def generation(self, num_steps: int):
        import cache_dit

        # cache-dit's own refresh (num_inference_steps reached) fires one call late: the first step of
        # the next generation would still read the previous one's buffers. Rebuild the context here.
        with _quiet_cache_dit():
            cache_dit.refresh_context(self.model, cache_config=self._cache_config(num_steps),
                                      calibrator_config=self._calibrator_config())
        yield self

    def cached_steps(self) -> list[int]:
        """Steps of the last generation whose middle blocks reused the cache (cache-dit's stats, taken
        at the generation's last step)."""
        import cache_dit

        return list(cache_dit.summary(self.model, logging=False)[0].cached_steps)

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)


class HookedDenoiser(nn.Module):
    """A model carrying a diffusers cache hook, given the cache context pipelines set (DiT's class has
    no CacheMixin, so the hook registry is driven directly, as CacheMixin.cache_context does); every
    generation starts with the hooks' state reset."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    @contextmanager
    def generation(self, num_steps: int):
        from diffusers.hooks import HookRegistry

        HookRegistry.check_if_exists_or_initialize(self.model).reset_stateful_hooks(recurse=True)
        yield self

    def forward(self, *args, **kwargs):
        from diffusers.hooks.hooks import CacheContext, _set_cache_context

        _set_cache_context(self.model, CacheContext("cond"))
        try:
            return self.model(*args, **kwargs)
        finally:
            _set_cache_context(self.model, None)


class _MagCachePeer(HookedDenoiser):
    """diffusers MagCache on a deep copy. Its default block identifiers include `transformer_blocks`
    and BasicTransformerBlock is in its block registry, so DiT's 12 blocks are found as they are."""

    def __init__(self, model: nn.Module, settings: dict, calibration: tuple[list[int], list[int]],
                 num_steps: int) -> None:
        super().__init__(copy.deepcopy(model))
        from diffusers.hooks import MagCacheConfig, apply_mag_cache

        self.settings, self.num_steps = settings, num_steps
        apply_mag_cache(self.model, MagCacheConfig(calibrate=True, num_inference_steps=num_steps))
        self.mag_ratios = self._calibrate(*calibration)
        # re-applying replaces the calibration hooks (diffusers removes hooks of the same name)
        apply_mag_cache(self.model, MagCacheConfig(mag_ratios=self.mag_ratios, num_inference_steps=num_steps,
                                                   **settings))

    def _calibrate(self, labels: list[int], seeds: list[int]) -> list[float]:
        from .reference.sampler import sample

        # MagCache hands the ratios back only as a print (and an INFO log) after the last step
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            sample(self, labels, seeds, num_steps=self.num_steps)
        lines = [line for line in printed.getvalue().splitlines() if line.startswith("[") and line.endswith("]")]
        if not lines:
            raise RuntimeError(f"MagCache calibration printed no ratios: {printed.getvalue()!r}")
        ratios = [float(r) for r in ast.literal_eval(lines[-1])]
        if len(ratios) != self.num_steps:
            raise RuntimeError(f"MagCache calibration gave {len(ratios)} ratios for {self.num_steps} steps")
        return ratios

    @contextmanager
    def generation(self, num_steps: int):
        if num_steps != self.num_steps:
            raise ValueError(f"this MagCache peer was calibrated for {self.num_steps} steps, not {num_steps}")
        with super().generation(num_steps):
            yield self


@contextmanager
def count_blocks(denoiser: nn.Module):
    """Yields a list that gets, per transformer call, how many blocks ran their own computation.
    Hooks sit on each block's norm1 (its first op): a skipped block, whether cache-dit leaves it out or
    a diffusers hook returns early, never reaches it, while a forward hook on the block itself would
    still fire under diffusers' hooks."""
    model = getattr(denoiser, "model", denoiser)
    counts: list[int] = []

    def bump(*_):
        counts[-1] += 1

    handles = [model.pos_embed.register_forward_pre_hook(lambda *_: counts.append(0))]
    handles += [block.norm1.register_forward_hook(bump) for block in model.transformer_blocks]
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()
