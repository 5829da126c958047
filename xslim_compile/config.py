"""User-facing settings of optimize(): one frozen dataclass, validated on construction."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .errors import ConfigError
from .forecast import ESTIMATORS, get_estimator
from .plan import Plan, Variant, parse_schedule

BACKENDS = ("eager", "inductor", "tensorrt")


def _expect(condition: bool, field_name: str, value, expected: str) -> None:
    if not condition:
        raise ConfigError(f"XSlimConfig.{field_name}={value!r} is invalid: expected {expected}")


@dataclass(frozen=True)
class XSlimConfig:
    """How optimize() rewrites and runs a denoiser.

    schedule: one entry per denoising step ("full", "skip", "block", "token"); steps past its end run
        "full". None runs every step "full" (the graphs are still captured, verified and lowered).
    plan: an xs.Plan from calibrate() (fixed entries in normalised time, or online controller
        settings); replaces `schedule`.
    block_reuse: global block indices a "block" step reuses (blocks are numbered across all stacks in
        execution order). None picks them on the preceding full step by the accumulated-residual rule.
    block_threshold: δ_blk of that rule; None uses the median of the per-block residual sizes.
    always_compute_blocks: the first blocks of every stack that the automatic rule always runs.
    token_ratio: share of the image tokens a "token" step recomputes (a static bucket of
        round(ratio × N) tokens per sample; the others take the skip approximation).
    estimator: how a skipped step (and a token step's other rows) estimates the stack residual where
        the schedule or plan entry does not say: "reuse" (the last computed Δ, the paper's), "taylor1" /
        "taylor2" (extrapolated from the last two / three computed steps), "damped" (half of taylor1's
        change). Calibrated plans choose one per skip span.
    cache_dtype: keep block residuals and attention K/V caches in this dtype (torch.bfloat16 or
        torch.float16) instead of the model's; None keeps the model's.
    backend: "eager" (the rewritten ATen graphs run as they are), "inductor" (torch.compile per variant,
        fullgraph, static shapes) or "tensorrt" (optional, unverified here).
    compile_mode: torch.compile mode for the inductor backend (e.g. "reduce-overhead" for CUDA graphs).
    check_finite: before reusing a cache, check it holds no NaN/Inf (one device-to-host read per call,
        shared with the timestep read); a non-finite cache makes that step run "full".
    verify: check every built variant against the reference at build time.
    strict: raise when a variant cannot be built or verified at run time; by default (False) that
        step runs "full" instead, the reason is logged once and kept in the trace, and the variant is
        not tried again for that input signature.
    max_signatures: how many input signatures keep their captured graphs (least recently used dropped).
    trace_limit: how many call records `trace` keeps.
    """

    schedule: Sequence[str | Variant] | None = None
    plan: Plan | None = None
    block_reuse: Sequence[int] | None = None
    block_threshold: float | None = None
    always_compute_blocks: int = 4
    token_ratio: float = 0.5
    estimator: str = "reuse"
    cache_dtype: torch.dtype | None = None
    backend: str = "eager"
    compile_mode: str | None = None
    check_finite: bool = True
    verify: bool = True
    strict: bool = False
    max_signatures: int = 4
    max_block_variants: int = 8
    trace_limit: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedule", parse_schedule(self.schedule))
        _expect(self.plan is None or isinstance(self.plan, Plan), "plan", type(self.plan).__name__, "an xs.Plan")
        _expect(self.plan is None or self.schedule is None, "plan", "a Plan", "either a plan or a schedule, not both")
        if self.block_reuse is not None:
            reuse = tuple(self.block_reuse)
            _expect(all(isinstance(i, int) and i >= 0 for i in reuse), "block_reuse", self.block_reuse,
                    "None or a sequence of non-negative block indices")
            object.__setattr__(self, "block_reuse", tuple(sorted(set(reuse))))
        _expect(self.block_threshold is None or self.block_threshold > 0, "block_threshold",
                self.block_threshold, "None or a positive number")
        _expect(isinstance(self.always_compute_blocks, int) and self.always_compute_blocks >= 0,
                "always_compute_blocks", self.always_compute_blocks, "an integer >= 0")
        _expect(isinstance(self.token_ratio, (int, float)) and 0 < self.token_ratio <= 1, "token_ratio",
                self.token_ratio, "a share of the image tokens in (0, 1]")
        _expect(self.estimator in ESTIMATORS, "estimator", self.estimator, f"one of {', '.join(map(repr, ESTIMATORS))}")
        _expect(self.cache_dtype in (None, torch.bfloat16, torch.float16, torch.float32), "cache_dtype",
                self.cache_dtype, "None, torch.bfloat16, torch.float16 or torch.float32")
        _expect(self.backend in BACKENDS, "backend", self.backend, f"one of {', '.join(map(repr, BACKENDS))}")
        for name in ("max_signatures", "max_block_variants", "trace_limit"):
            value = getattr(self, name)
            _expect(isinstance(value, int) and not isinstance(value, bool) and value >= 1, name, value,
                    "an integer >= 1")
        for name in ("check_finite", "verify", "strict"):
            _expect(isinstance(getattr(self, name), bool), name, getattr(self, name), "True or False")

    def uses(self, variant: Variant) -> bool:
        """Whether this configuration may run the variant (decides what is built at capture)."""
        if self.plan is not None:
            if self.plan.controller is not None:
                return variant in {Variant.FULL, Variant.SKIP} | self.plan.controller.refreshes
            # a fixed plan skips every step no entry lands on
            return variant is Variant.SKIP or any(e.variant is variant for e in self.plan.entries)
        return self.schedule is not None and variant in self.schedule

    def estimators(self) -> set[str]:
        """Every estimator a step may use under this configuration."""
        return {self.estimator} | (self.plan.estimators() if self.plan is not None else set())

    def forecast_orders(self) -> list[int]:
        """History lengths of those estimators (which skip graphs to build up front)."""
        return sorted({get_estimator(name).order for name in self.estimators()})
