"""The rules that turn a controller's decision into the variant a call runs, and the step-position
rules for calls without a step index. Pure Python (no torch, no numpy), so that a runner without
torch can make the same choices from the same facts.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..forecast import HISTORY, forecast_weights, get_estimator
from ..plan import Variant


@dataclass(frozen=True)
class VariantKey:
    variant: Variant
    reuse: tuple[int, ...] = ()   # BLOCK: the reused blocks
    tokens: int = 0               # TOKEN: image tokens recomputed per sample
    residuals: bool = False       # FULL: also emit block residuals for a later block step
    kv: bool = False              # FULL: also emit attention K/V for a later token step
    probe: bool = False           # BLOCK: also return the first computed block's fresh residual
    history: int = 1              # SKIP/TOKEN: residuals the forecast reads (1: reuse the last one)

    def __str__(self) -> str:
        if self.variant is Variant.BLOCK:
            return f"block(reuse={list(self.reuse)}{', probe' if self.probe else ''})"
        forecast = f", history={self.history}" if self.history > 1 else ""
        if self.variant is Variant.TOKEN:
            return f"token(k={self.tokens}{forecast})"
        if self.variant is Variant.SKIP:
            return f"skip({forecast[2:]})" if forecast else "skip"
        return f"{self.variant}{'+residuals' if self.residuals else ''}{'+kv' if self.kv else ''}"


@dataclass(frozen=True)
class CacheFacts:
    """What a branch holds when a call starts (names as in BranchState.caches)."""
    delta: bool                    # a stack residual from a computed step
    residuals: bool                # per-block residuals from a full step
    kv_and_prev: bool              # K/V from a full step and the residual before the last
    token_failed: str | None       # why the token variant could not be built, if it could not


def fallback(variant: Variant, reason: str, branch: str, facts: CacheFacts) -> str | None:
    """Why the wanted approximate variant must run full instead, or None when it can run (the
    caches' finiteness is checked after this, since it may cost a host read)."""
    if variant is Variant.FULL:
        return None
    if not facts.delta:
        return f"{reason}: {variant} wanted, no cached residual yet in branch {branch!r}"
    if variant is Variant.BLOCK and not facts.residuals:
        return f"{reason}: block wanted, no block residuals from a full step yet"
    if variant is Variant.TOKEN and facts.token_failed is not None:
        return f"{reason}; fallback to full: {facts.token_failed}"
    if variant is Variant.TOKEN and not facts.kv_and_prev:
        return f"{reason}: token wanted, needs K/V from a full step and two computed steps"
    return None


def known_step(step_index: int | None, calls: int, in_generation: bool) -> tuple[int | None, bool]:
    """(step, restart): the step when the caller gives it (a cache_context step index, or the call
    count inside generation()), else None; restart when a step index 0 arrives after calls (a new
    generation)."""
    if step_index is not None:
        return int(step_index), step_index == 0 and calls > 0
    return (calls if in_generation else None), False


def timestep_order(timestep: float | None, last: float | None) -> str:
    """Calls located by counting: a timestep that goes back up starts a new generation ("restart"),
    the same timestep twice is suspicious ("repeat": two CFG branches sharing one cache), else "next"."""
    if timestep is None or last is None:
        return "next"
    if timestep > last:
        return "restart"
    return "repeat" if timestep == last else "next"


def locate(timestep: float | None, schedule: tuple | None) -> int:
    """Index of the schedule entry nearest to the call's timestep (schedulers without a step index)."""
    if timestep is None or not schedule:
        return 0
    return min(range(len(schedule)), key=lambda i: abs(schedule[i] - timestep))


def roll_caches(old: dict, produced: dict, replace: bool, depth: int, history: list[int],
                step: int) -> tuple[dict, list[int], list]:
    """A step's caches taken in: a full step replaces them all (block residuals and K/V belong to the
    last full step); every computed step rolls the residual history delta -> delta_prev ->
    delta_prev2 (depth residuals kept). A token step that returns its own delta_prev (rows it did not
    run keep their pending score) leaves only its own residual as a clean forecast point.
    Returns (caches, history: the steps of the kept residuals, newest first, rolled: the older
    residuals kept). Values are opaque (torch tensors, numpy arrays)."""
    produced = {k: v for k, v in produced.items() if not k.startswith("probe.")}  # read once, not kept
    caches = dict(produced) if replace else {**old, **produced}
    slots = [name[len("delta."):] for name in produced if name.startswith("delta.")]
    mixed = any(f"delta_prev.{slot}" in produced for slot in slots)
    rolled = []
    for slot in slots:
        if f"delta_prev.{slot}" in produced:
            caches.pop(f"delta_prev2.{slot}", None)
            continue
        older = [old.get(f"{prefix}.{slot}") for prefix in HISTORY[:depth - 1]]
        for prefix, value in zip(HISTORY[1:depth], older):
            if value is None:
                caches.pop(f"{prefix}.{slot}", None)
            else:
                caches[f"{prefix}.{slot}"] = value
                rolled.append(value)
    if slots:
        history = [step] if mixed else ([step] + history)[:depth]
    return caches, history, rolled


def token_bucket(ratio: float, image_tokens: int) -> int:
    """Tokens a token step recomputes per sample: round(ratio × N), which must lie in 1..N."""
    if image_tokens < 1:
        raise ConfigError("token steps need an image stream of shape [B, N, D] entering the block stack; "
                          "this model's has none, so it has no token buckets")
    kept = round(ratio * image_tokens)
    if not 1 <= kept <= image_tokens:
        raise ConfigError(f"token_ratio={ratio} gives a bucket of {kept} tokens; allowed range is 1..{image_tokens} "
                         f"(the image tokens of this input)")
    return kept


def full_key(following: frozenset, token_failed: bool) -> VariantKey:
    """The full step's key: it also emits what the steps that may follow it read."""
    return VariantKey(Variant.FULL, residuals=Variant.BLOCK in following,
                      kv=Variant.TOKEN in following and not token_failed)


def forecast_plan(estimator: str, step: int, history: list[int], history_finite: bool = True
                  ) -> tuple[int, tuple[float, ...] | None, str]:
    """(residuals the step's forecast reads, its weights or None for plain reuse, a trace note)."""
    chosen = get_estimator(estimator)
    order = min(chosen.order, len(history))
    if not history_finite:
        return 1, None, f"{chosen.name}: reuse (non-finite history)"
    if order <= 1:
        return 1, None, "" if chosen.order == 1 else f"{chosen.name}: reuse (1 point)"
    return (order, forecast_weights(chosen, step, history[:order]),
            f"{chosen.name} from {','.join(map(str, history[:order]))}")
