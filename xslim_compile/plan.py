"""Pure data shared by the compiler and the runtime: variant kinds, schedules and plans."""
from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

from .errors import ArgumentError, ConfigError
from .forecast import get_estimator


class Variant(str, enum.Enum):
    """What one denoising call computes."""

    FULL = "full"    # every block; refreshes all caches
    SKIP = "skip"    # no block of the stack: O = I + Δ_last
    BLOCK = "block"  # some blocks reuse their cached residual, the others run
    TOKEN = "token"  # a subset of image tokens runs through the stack

    def __str__(self) -> str:
        return self.value


def parse_variant(entry: str | Variant) -> Variant:
    """'full' / Variant.FULL -> Variant.FULL; anything else raises ValueError listing the valid names."""
    if isinstance(entry, Variant):
        return entry
    try:
        return Variant(str(entry).strip().lower())
    except ValueError:
        valid = ", ".join(repr(v.value) for v in Variant)
        raise ConfigError(f"unknown schedule entry {entry!r}; expected one of {valid}") from None


def parse_schedule(entries: Iterable[str | Variant] | None) -> tuple[Variant, ...] | None:
    if entries is None:
        return None
    if isinstance(entries, (str, Variant)):
        raise ArgumentError("schedule must be a sequence of entries, one per step, e.g. ['full', 'skip', ...]")
    return tuple(parse_variant(e) for e in entries)


def count_computed(schedule: Sequence[Variant]) -> int:
    return sum(1 for v in schedule if v is not Variant.SKIP)


# --- plans: schedules and controller settings as versioned data --------------------------------
# 2: entries carry the estimator of their span, controller settings an estimator, plans their costs
SCHEMA_VERSION = 2
STRENGTH = {Variant.FULL: 3, Variant.BLOCK: 2, Variant.TOKEN: 1, Variant.SKIP: 0}


def step_position(step: int, num_steps: int) -> float:
    """Normalised time of a step: 0 for the first, 1 for the last (a 1-step run is at 0)."""
    return step / (num_steps - 1) if num_steps > 1 else 0.0


@dataclass(frozen=True)
class PlanEntry:
    """One computed step of a fixed schedule, at normalised time `position` = step / (T − 1)."""

    position: float
    variant: Variant
    reuse: tuple[int, ...] | None = None   # BLOCK: reused blocks (None: the automatic rule)
    token_ratio: float | None = None       # TOKEN: share of image tokens recomputed
    estimator: str | None = None           # forecast of this step's approximate rows (token) and of the
                                           # skips after it, up to the next entry (None: the config's)

    def __post_init__(self) -> None:
        if self.estimator is not None:
            get_estimator(self.estimator)


@dataclass(frozen=True)
class ControllerSettings:
    """The online dual-threshold controller. Thresholds are in units of err_t (relative L1 change of
    the stack residual per step); the estimate is indicator × ratio(τ), the calibrated curve."""

    warn: float
    crit: float
    ratio_curve: tuple[tuple[float, float], ...]       # (τ, err_t / indicator_t) from calibration
    refresh_curve: tuple[tuple[float, str], ...] = ()  # (τ, "block" | "token" | "full"): the refresh
                                                       # that fits there ("full": none is cheap)
    token_ratio: float = 0.5
    first_full: int = 4        # first steps always full
    last_full: bool = True     # the last step always full
    max_skips: int = 6         # consecutive skips before a computed step is forced
    estimator: str = "reuse"   # forecast of skipped steps (and of a token step's other rows)
    indicator: str = "latent"  # "latent": the latent's relative change; "easycache": times the rate k
                               # (output change / latent change) of the last two computed steps

    @property
    def refreshes(self) -> frozenset[Variant]:
        """The variants the refresh curve may pick (block where the curve is empty, as the controller
        defaults)."""
        return frozenset(Variant(kind) for _, kind in self.refresh_curve) or frozenset({Variant.BLOCK})


@dataclass(frozen=True)
class Plan:
    """A fixed schedule (entries) or online controller settings, with the lines and their origin.

    Step mapping: a plan made for T0 steps stores positions τ = step / (T0 − 1). Run with T steps, an
    entry lands on the nearest step, τ × (T − 1) with halves rounded up; where two land on one step the
    stronger wins (full > block > token); steps no entry lands on are skipped, with the estimator of
    the entry before them. The first `first_full` steps and, with last_full, the last step run full at
    any step count. `costs` are the relative step costs the plan was made with (full = 1).
    """

    warn: float
    crit: float
    entries: tuple[PlanEntry, ...] | None = None
    controller: ControllerSettings | None = None
    source: dict = field(default_factory=dict)   # model_class, config_hash, num_steps, sampler, preset, ...
    first_full: int = 0        # these first steps run full whatever the step count (absolute, not t/T)
    last_full: bool = False    # and the last step
    costs: dict = field(default_factory=dict)    # variant name -> cost relative to full, as planned with
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not self.warn < self.crit:
            raise ConfigError(f"Plan.warn={self.warn!r} must be below Plan.crit={self.crit!r} "
                             f"(the early-warning line comes before the critical one)")
        if (self.entries is None) == (self.controller is None):
            raise ConfigError("a Plan holds either fixed entries or controller settings, exactly one")

    def schedule(self, num_steps: int) -> list[PlanEntry]:
        """One entry per step for a run of num_steps (skips filled in)."""
        steps: list[PlanEntry] = [PlanEntry(step_position(i, num_steps), Variant.SKIP) for i in range(num_steps)]
        for entry in self.entries or ():
            i = min(num_steps - 1, max(0, int(entry.position * (num_steps - 1) + 0.5)))
            if STRENGTH[entry.variant] > STRENGTH[steps[i].variant]:
                steps[i] = entry
        forced = list(range(min(self.first_full, num_steps))) + ([num_steps - 1] if self.last_full else [])
        for i in forced:
            steps[i] = PlanEntry(steps[i].position, Variant.FULL, estimator=steps[i].estimator)
        estimator = None
        for i, entry in enumerate(steps):
            if entry.variant is Variant.SKIP:
                steps[i] = replace(entry, estimator=estimator)
            else:
                estimator = entry.estimator
        return steps

    def estimators(self) -> set[str]:
        """Every estimator the plan may run."""
        names = {e.estimator for e in self.entries or () if e.estimator is not None}
        if self.controller is not None:
            names.add(self.controller.estimator)
        return names

    def variants(self, num_steps: int) -> list[str]:
        return [e.variant.value for e in self.schedule(num_steps)]

    def check_model(self, model) -> None:
        """Raise ConfigError if the plan was made for another model class or configuration."""
        want_class, want_hash = self.source.get("model_class"), self.source.get("config_hash")
        if want_class is not None and want_class != type(model).__name__:
            raise ConfigError(f"Plan.source['model_class'] is {want_class!r}, but the model is "
                             f"{type(model).__name__!r}; calibrate a plan for this model")
        if want_hash is not None and want_hash != config_hash(model):
            raise ConfigError(f"Plan.source['config_hash'] is {want_hash!r}, but this {type(model).__name__} has "
                             f"config hash {config_hash(model)!r}; the plan was made for another configuration")

    def check_blocks(self, num_blocks: int) -> None:
        for entry in self.entries or ():
            bad = [i for i in entry.reuse or () if not 0 <= i < num_blocks]
            if bad:
                raise ConfigError(f"Plan entry at position {entry.position} reuses blocks {bad}, but the model has "
                                 f"{num_blocks} blocks; expected indices in 0..{num_blocks - 1}")

    # --- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {"schema": SCHEMA_VERSION, "warn": self.warn, "crit": self.crit, "first_full": self.first_full,
               "last_full": self.last_full, "costs": dict(self.costs), "source": dict(self.source)}
        if self.entries is not None:
            out["entries"] = [{k: (v.value if isinstance(v, Variant) else list(v) if isinstance(v, tuple) else v)
                               for k, v in asdict(e).items() if v is not None} for e in self.entries]
        if self.controller is not None:
            c = asdict(self.controller)
            c["ratio_curve"] = [list(p) for p in self.controller.ratio_curve]
            c["refresh_curve"] = [list(p) for p in self.controller.refresh_curve]
            out["controller"] = c
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Plan":
        schema = data.get("schema")
        if not isinstance(schema, int) or schema > SCHEMA_VERSION or schema < 1:
            raise ConfigError(f"Plan schema {schema!r} is not supported; this xslim_compile reads schema "
                             f"1..{SCHEMA_VERSION} (a newer plan needs a newer xslim_compile)")
        entries = None  # schema 1 has no estimators (its plans reuse Δ) and no costs
        if "entries" in data:
            entries = tuple(PlanEntry(float(e["position"]), parse_variant(e["variant"]),
                                      tuple(e["reuse"]) if e.get("reuse") is not None else None,
                                      e.get("token_ratio"), e.get("estimator")) for e in data["entries"])
        controller = None
        if "controller" in data:
            c = dict(data["controller"])
            c["ratio_curve"] = tuple((float(a), float(b)) for a, b in c["ratio_curve"])
            c["refresh_curve"] = tuple((float(a), str(b)) for a, b in c.get("refresh_curve", ()))
            controller = ControllerSettings(**c)
        return cls(float(data["warn"]), float(data["crit"]), entries, controller, dict(data.get("source", {})),
                   int(data.get("first_full", 0)), bool(data.get("last_full", False)),
                   dict(data.get("costs", {})), schema)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Plan":
        return cls.from_dict(json.loads(Path(path).read_text()))


def config_hash(model) -> str:
    """A short hash of a diffusers model's config (what a plan was calibrated on)."""
    config = getattr(model, "config", None)
    items = sorted((k, repr(v)) for k, v in dict(config or {}).items() if not k.startswith("_"))
    return hashlib.sha256(repr(items).encode()).hexdigest()[:12]
