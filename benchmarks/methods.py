"""The methods the quality benchmark compares: their families and settings, and how each becomes a
denoiser with the reference model's call signature."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

import xslim_compile as xs
from xslim_compile.schedules import released_schedule, uniform_schedule

from .reference.model import NUM_CLASSES
from .reference.sampler import DEFAULT_STEPS, sample

from . import peers
from .peers import HookedDenoiser

# peers.py imports its libraries lazily; cache-dit is an optional extra
PEERS_UNAVAILABLE = None if peers.versions().get("cache-dit") else "cache-dit is not installed"

CALIBRATION_SEEDS = list(range(10_000, 10_010))   # never among the evaluation or validation seeds
VALIDATION_SEEDS = list(range(20_000, 20_020))    # thresholds are chosen here, never on evaluation seeds
TARGETS = (2.0, 3.0, 4.0, 5.0, 6.0)               # FLOPs speedups each tunable family is set for
PEER_NAMES = ("dbcache", "dbcache_taylorseer", "magcache")
# diffusers' default TaylorSeer patterns end in "attn" and miss DiT's attn1: name its modules
TAYLORSEER_MODULES = [r"transformer_blocks\.\d+\.(attn1|ff)"]


@dataclass(frozen=True)
class Method:
    name: str
    family: str
    kind: str = "model"            # how the denoiser is built; see make_denoiser
    num_steps: int = DEFAULT_STEPS
    settings: dict = field(default_factory=dict)          # kind-specific (schedule, preset, threshold, ...)
    target_speedup: float | None = None                   # xslim: calibrate's target; tuned: what `tune` aims at
    tune: str | None = None        # settings key chosen on the validation seeds to reach target_speedup
    calibrate_kwargs: dict = field(default_factory=dict)  # extra xs.calibrate arguments (ablations)


def _tuned(family: str, kind: str, key: str, base: dict | None = None) -> list[Method]:
    return [Method(f"{family}_{t:g}x", family, kind, settings=dict(base or {}), target_speedup=t, tune=key)
            for t in TARGETS]


def all_methods() -> list[Method]:
    """Every method, in the default run order (the ones that matter most first)."""
    methods = [Method("full", "full"), Method("xslim_full", "xslim_full", "xslim_full")]
    methods += [Method(f"xslim_{t:g}x", "xslim", "plan", settings={"preset": "fast"}, target_speedup=t)
                for t in TARGETS]
    methods += [Method("xslim_slow", "xslim", "plan", settings={"preset": "slow"}),
                Method("xslim_fast", "xslim", "plan", settings={"preset": "fast"}),
                Method("xslim_fast_online", "xslim_online", "plan", settings={"preset": "fast", "online": True})]
    methods += [Method(f"steps_{n}", "steps", num_steps=n) for n in (25, 17, 12, 10, 8)]
    methods += [Method(f"uniform_{n}", "uniform", "schedule", settings={"schedule": uniform_schedule(DEFAULT_STEPS, n)})
                for n in (2, 3, 4, 5, 6)]
    methods += [Method(f"taylorseer_n{n}", "taylorseer", "taylorseer",
                       settings={"cache_interval": n, "cache_identifiers": TAYLORSEER_MODULES}) for n in (2, 3, 4, 5, 6)]
    methods += _tuned("fbcache", "fbcache", "threshold")
    methods += _tuned("teacache_like", "teacache", "threshold")
    methods += _tuned("fbcache_like", "first_block", "threshold")
    # DBCache as its author's "fast" preset (peers.PRESETS) with the threshold swept
    methods += _tuned("dbcache", "peer", "residual_diff_threshold", {"Fn": 1, "Bn": 0, "max_warmup_steps": 4})
    methods += _tuned("dbcache_taylorseer", "peer", "residual_diff_threshold",
                      {"Fn": 1, "Bn": 0, "max_warmup_steps": 4, "taylorseer_order": 1})
    # MagCache's caps (20% of the steps full first, 3 skips in a row) stop it near 3x; these let the
    # threshold set the speed, with the same 4 leading full steps as X-Slim's plans
    methods += _tuned("magcache", "peer", "threshold", {"retention_ratio": 0.08, "max_skip_steps": 10})
    methods += [Method(f"released_{name}", "released", "schedule", settings={"schedule": released_schedule(name)})
                for name in ("step_slow", "polish_slow", "step_fast", "polish_fast")]
    methods += [Method("delta_dit_like", "delta_dit", "delta_dit")]
    # the paper's skip (reuse the last residual) under the same calibration: what forecasting adds
    methods += [Method(f"xslim_reuse_{t:g}x", "xslim_reuse", "plan", settings={"preset": "fast"}, target_speedup=t,
                       calibrate_kwargs={"estimators": ("reuse",)}) for t in TARGETS]
    return methods


def peer_name(method: Method) -> str:
    return method.family


def unavailable_reason(method: Method) -> str | None:
    """Why a method cannot run here (a missing optional library), or None."""
    if method.kind != "peer":
        return None
    if method.family.startswith("dbcache") and peers.versions().get("cache-dit") is None:
        return "cache-dit is not installed"
    return None


def select_methods(names: list[str] | None, families: list[str] | None) -> list[Method]:
    """Named methods in the order given, then the methods of the named families (families in the order
    given); everything when neither is given. Full compute always runs, first: the others are scored
    against it."""
    known = all_methods()
    by_name = {m.name: m for m in known}
    family_names = {m.family for m in known}
    unknown = [n for n in names or () if n not in by_name] + [f for f in families or () if f not in family_names]
    if unknown:
        raise ValueError(f"unknown methods or families {unknown}; methods: {', '.join(by_name)}; "
                         f"families: {', '.join(sorted(family_names))}")
    if names is None and families is None:
        chosen = list(known)
    else:
        chosen = [by_name[n] for n in names or ()]
        chosen += [m for f in families or () for m in known if m.family == f]
    chosen = list({m.name: m for m in chosen}.values())
    full = by_name["full"]
    return [full] + [m for m in chosen if m.name != "full"]


def calibration_pairs() -> tuple[list[int], list[int]]:
    return [i % NUM_CLASSES for i in range(len(CALIBRATION_SEEDS))], list(CALIBRATION_SEEDS)


class Calibrations:
    """Plans calibrated on the calibration seeds, all from one profile (its generations and sensitivity
    probes run once per benchmark run; each plan then validates its own candidates). `saved`: plans of
    an earlier run by name (a resumed run scores and times the very plans it scored before)."""

    def __init__(self, model: nn.Module, saved: dict[str, dict] | None = None) -> None:
        self.model, self.plans, self.profile, self.saved = model, {}, None, dict(saved or {})

    def get(self, preset: str, online: bool = False, target: float | None = None, **kwargs) -> xs.Plan:
        key = (preset, online, target, repr(sorted(kwargs.items())))
        if key not in self.plans and _plan_name(key) in self.saved:
            self.plans[key] = xs.Plan.from_dict(self.saved[_plan_name(key)])
        if key not in self.plans:
            if self.profile is None:
                labels, seeds = calibration_pairs()
                self.profile = xs.profile(self.model, run=lambda m: sample(m, labels, seeds))
            self.plans[key] = xs.calibrate(profile=self.profile, preset=preset, online=online,
                                           target_speedup=target, **kwargs)
        return self.plans[key]

    def to_dict(self) -> dict:
        return {**self.saved, **{_plan_name(k): p.to_dict() for k, p in self.plans.items()}}


def _plan_name(key) -> str:
    preset, online, target, extra = key
    return (f"{preset}{'_online' if online else ''}{f'_target{target:g}' if target else ''}"
            f"{'' if extra == '[]' else '_' + extra}")


def make_denoiser(method: Method, model: nn.Module, plans: Calibrations, settings: dict | None = None) -> nn.Module:
    """The method's denoiser; `settings` replaces method.settings (a tuned threshold)."""
    settings = method.settings if settings is None else settings
    build = _BUILDERS.get(method.kind)
    if build is None:
        raise ValueError(f"unknown method kind {method.kind!r}; expected one of {sorted(_BUILDERS)}")
    return build(method, model, plans, settings)


def _optimized(model: nn.Module, controller=None, **config) -> nn.Module:
    # no NaN/Inf read-back: the benchmark measures the methods, not the safety check
    return xs.optimize(model, xs.XSlimConfig(check_finite=False, **config), controller=controller)


def _plan(method, model, plans, settings):
    plan = plans.get(settings.get("preset", "fast"), settings.get("online", False), method.target_speedup,
                     **method.calibrate_kwargs)
    return _optimized(model, plan=plan)


def _teacache(method, model, plans, settings):
    from xslim_compile.runtime.controller import TeaCacheController

    # the online plan's indicator-to-err curve; the threshold is the only knob
    online = plans.get("fast", online=True).controller
    threshold = settings.get("threshold", online.crit)
    controller = TeaCacheController(threshold, online.ratio_curve, first_full=online.first_full,
                                    num_steps=DEFAULT_STEPS)
    return _optimized(model, controller)


def _first_block(method, model, plans, settings):
    from xslim_compile.runtime.controller import FirstBlockController

    return _optimized(model, FirstBlockController(settings["threshold"], model.config.num_layers))


def _delta_dit(method, model, plans, settings):
    from xslim_compile.plan import Variant
    from xslim_compile.runtime.controller import EveryNController

    layers = model.config.num_layers
    return _optimized(model, EveryNController(2, between=Variant.BLOCK, reuse=tuple(range(layers // 2, layers))))


def _fbcache(method, model, plans, settings):
    from diffusers.hooks import FirstBlockCacheConfig, apply_first_block_cache

    hooked = copy.deepcopy(model)
    apply_first_block_cache(hooked, FirstBlockCacheConfig(**settings))
    return HookedDenoiser(hooked)


def _taylorseer(method, model, plans, settings):
    from diffusers.hooks import TaylorSeerCacheConfig, apply_taylorseer_cache

    hooked = copy.deepcopy(model)
    apply_taylorseer_cache(hooked, TaylorSeerCacheConfig(taylor_factors_dtype=torch.float32, **settings))
    return HookedDenoiser(hooked)


def _peer(method, model, plans, settings):
    reason = unavailable_reason(method)
    if reason is not None:
        raise RuntimeError(f"{method.name} is unavailable: {reason}")
    return peers.make_peer(peer_name(method), model, settings, calibration=calibration_pairs(),
                           num_steps=method.num_steps)


_BUILDERS = {
    "model": lambda method, model, plans, settings: model,
    "xslim_full": lambda method, model, plans, settings: _optimized(model),
    "schedule": lambda method, model, plans, settings: _optimized(model, schedule=list(settings["schedule"])),
    "plan": _plan,
    "teacache": _teacache,
    "first_block": _first_block,
    "delta_dit": _delta_dit,
    "fbcache": _fbcache,
    "taylorseer": _taylorseer,
    "peer": _peer,
}


def describe(method: Method, settings: dict) -> str | None:
    """The peer library's own description of the settings (None for the others)."""
    if method.kind == "peer":
        return peers.describe(peer_name(method), settings)
    return None


def built_variants(denoiser: nn.Module) -> int:
    """How many graphs an xslim module has captured or built so far (0 for other modules). Building
    (export, verification runs) happens on first use, possibly mid-generation; a FLOPs count that
    saw it is redone. Reads the module's private tables: when they change, this only undercounts."""
    sets = getattr(denoiser, "_variant_sets", None)
    if not isinstance(sets, dict):
        return 0
    return len(sets) + sum(len(getattr(v, "_variants", ())) for v in sets.values())
