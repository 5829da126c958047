"""OptimizedDenoiser: the drop-in module that dispatches each call to a captured variant.

Cost per call: at most one device-to-host read. It happens when the step position must be found from
the timestep (no generation()/cache_context step index), when a reused cache must be checked for
NaN/Inf (check_finite), when the automatic block rule needs the residual sizes (once a generation),
or for the online controller's indicator (the latent's relative change, times EasyCache's rate k when
the controller asks for it); all needed values are read together. With the position
known, check_finite off and a plan, no read happens. (First-block caching reads once more, after
its probe.)
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable

import torch
from torch import nn

from ..config import XSlimConfig
from ..errors import ArgumentError, ConcurrentCallError, ConfigError, XSlimError
from ..forecast import WEIGHTS
from ..plan import Variant
from . import host, ranks
from .controller import Controller, Decision, StepInfo, controller_for
from .policies import first_float_tensor, relative_change, select_reuse_blocks, token_bucket
from .guards import MUTATORS, model_fingerprint, placement
from .position import Reading, SchedulerClock
from .rules import CacheFacts, fallback, forecast_plan, full_key, known_step, locate, timestep_order
from .signature import InputSignature, flatten_call, normalize_call
from .state import BranchState
from .trace import Trace, TraceRecord
from .variant_set import VariantKey, VariantSet

logger = logging.getLogger(__name__)
BuildFn = Callable[[nn.Module, dict, InputSignature, XSlimConfig], VariantSet]
CONTEXT_FIELDS = ("step_index", "num_inference_steps", "timestep", "sigma")
DEFAULT_BRANCH = "default"
_ENTRY = threading.Lock()  # guards the check-and-set of OptimizedDenoiser._active


def make_controller(config: XSlimConfig) -> Controller:
    return controller_for(config.plan, config.schedule)


class OptimizedDenoiser(nn.Module):
    """Behaves like the wrapped denoiser (same call, same outputs; attributes are forwarded)."""

    def __init__(self, model: nn.Module, config: XSlimConfig, build: BuildFn,
                 controller: Controller | None = None) -> None:
        super().__init__()
        self.model = model
        self.xslim_config = config
        self.controller = controller or make_controller(config)
        self.trace = Trace(config.trace_limit)
        self.observers: list[Callable] = []  # called after each call: (step info, variant key, state, latent)
        self.last_outputs: list = []
        self._build = build
        self._variant_sets: OrderedDict[InputSignature, VariantSet] = OrderedDict()
        self._states: dict[str, BranchState] = {}
        self._branch: str | None = None
        self._context: dict = {}
        self._num_steps: int | None = None
        self._in_generation = False
        self._calls = 0
        self._warned_repeat = False
        # residuals each branch keeps: 2 for token scoring and two-point forecasts, 3 for taylor2
        self._depth = max(2, *config.forecast_orders(), getattr(self.controller, "forecast_order", 1))
        self._weights: dict[tuple, torch.Tensor] = {}   # forecast weights on the device, by value
        self._extra: dict[str, torch.Tensor] = {}       # this call's non-cache graph inputs
        self._forecast_detail = ""                      # this call's estimator, for the trace
        self._clock: SchedulerClock | None = None       # the pipeline form: its scheduler is the clock
        self._dirty = False                             # a MUTATORS call went through this module
        self._active: int | None = None                 # the thread inside forward, if any
        self._parallel: tuple = (None, None)            # (the model's parallel config, its process group)

    # --- looking like the wrapped model -------------------------------------------------------
    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            model = self.__dict__.get("_modules", {}).get("model")
            if model is None:
                raise
            value = getattr(model, name)
            if name in MUTATORS and callable(value):
                return self._marking(value)
            return value

    def _marking(self, method):
        """A model method that changes what forward computes: the next call checks the fingerprint."""
        def call(*args, **kwargs):
            out = method(*args, **kwargs)
            self._dirty = True
            return out
        return call

    def _apply(self, fn, recurse=True):
        # moved or cast weights: captured graphs and caches belong to the old placement; a .to() that
        # changes nothing (accelerate's offload calls it around every forward) keeps them
        before = placement(self.model)
        out = super()._apply(fn, recurse)
        if placement(self.model) != before:
            self._variant_sets.clear()
            self.reset()
        return out

    def attach(self, pipe) -> None:
        """Read step positions, step counts and generation boundaries from this pipeline's scheduler
        (what xs.optimize(pipe) does; see runtime/position.py)."""
        if not hasattr(pipe, "scheduler"):
            raise ConfigError(f"attach() expects a diffusers pipeline with a scheduler, got {type(pipe).__name__}")
        self._clock = SchedulerClock(pipe)

    # --- generations and branches -------------------------------------------------------------
    def reset(self) -> None:
        """Forget every cache (a new generation starts with the next call)."""
        for state in self._states.values():
            state.clear()
        self.controller.reset()

    @contextmanager
    def generation(self, num_steps: int | None = None):
        """Marks one generation: caches start empty, the step index counts calls (no host read), and
        the caches are freed at the end."""
        if num_steps is not None and (not isinstance(num_steps, int) or num_steps < 1):
            raise ConfigError(f"num_steps must be a positive integer or None, got {num_steps!r}")
        self.reset()
        self._num_steps, self._in_generation = num_steps, True
        try:
            yield self
        finally:
            self._num_steps, self._in_generation = None, False
            self.reset()

    @contextmanager
    def cache_context(self, name: str, **kwargs):
        """diffusers' per-branch context (pipelines call it around each CFG branch); `name` keys the
        caches. step_index / num_inference_steps, when given, fix the step position."""
        unknown = sorted(set(kwargs) - set(CONTEXT_FIELDS))
        if unknown:
            raise ArgumentError(f"cache_context got unexpected arguments {unknown}; expected {list(CONTEXT_FIELDS)}")
        saved = (self._branch, self._context)
        self._branch, self._context = str(name), kwargs
        try:
            yield
        finally:
            self._branch, self._context = saved

    def cache_bytes(self) -> int:
        return sum(state.cache_bytes() for state in self._states.values())

    # --- the call ------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        with _ENTRY:
            if self._active is not None:
                raise ConcurrentCallError(
                    f"this optimized {type(self.model).__name__} is already running a call in another thread; "
                    f"its caches and step counters are per module, not per thread: give each thread its "
                    f"own xs.optimize(...) module")
            self._active = threading.get_ident()
        try:
            return self._call(args, kwargs)
        finally:
            self._active = None

    def _call(self, args, kwargs):
        kwargs = normalize_call(self.model, args, kwargs)
        leaves, signature = flatten_call(kwargs)
        branch = self._branch or DEFAULT_BRANCH
        reading = self._clock_reading(branch)
        branch = reading.branch if reading is not None else branch
        state = self._states.setdefault(branch, BranchState(depth=self._depth))
        if signature != state.signature:  # per branch: CFG branches may differ in shape
            state.clear()
            state.signature = signature
        if reading is not None and state.generation != reading.generation:
            state.clear()  # a new schedule: a new generation, whatever the timestep
            state.generation = reading.generation
        if self._dirty:
            self._check_changes()
        group = self._group()
        if group is not None and state.calls == 0:
            ranks.check_same(ranks.digest(self.xslim_config, self.controller), group, type(self.model).__name__)
        step = self._known_step(state) if reading is None else reading.step
        wanted = {}
        timestep = kwargs.get("timestep")
        if step is None and reading is not None and state.calls > 0:
            step = state.offset + state.calls  # located at the generation's first call, then counted
        elif step is None and isinstance(timestep, torch.Tensor):
            wanted["timestep"] = timestep.reshape(-1)[:1]
            if reading is not None:
                wanted["schedule"] = reading.timesteps.reshape(-1)
        latent = first_float_tensor(kwargs)
        if self.controller.wants_indicator and state.last_input is not None and latent is not None:
            wanted["indicator"] = relative_change(latent, state.last_input)
            if getattr(self.controller, "indicator_kind", "latent") == "easycache" and state.rate is not None:
                wanted["indicator"] = wanted["indicator"] * state.rate
        values = host.read_for_call(state, wanted, self.xslim_config, group=group) if wanted else {}
        if step is None and reading is not None:
            step = state.offset = locate(values.get("timestep"), values.get("schedule"))
        elif step is None:
            step, values = self._step_from_timestep(state, timestep, values, branch)
        variants = self._variants_for(signature, kwargs, fresh=state.calls == 0)
        num_steps = self._context.get("num_inference_steps") or self._num_steps or (reading and reading.num_steps)
        info = StepInfo(step, num_steps, branch)
        if "indicator" in values:
            self.controller.observe(info, {"indicator": values["indicator"]})
        decision = self.controller.decide(info)
        self._extra = {}
        key, reason = self._choose(decision, info, state, variants, values)
        key, reason = self._buildable(key, reason, variants, info)
        inputs = {**state.caches, **self._extra} if self._extra else state.caches
        with torch.no_grad():
            outputs, caches = variants.get(key)(variants.tensors(leaves), inputs)
            if key.probe:
                key, reason, outputs, caches = self._check_probe(decision, key, reason, info, state, variants,
                                                                 leaves, outputs, caches, values)
        self.controller.commit(info, key.variant)
        state.store(caches, replace=key.variant is Variant.FULL, check_finite=self.xslim_config.check_finite,
                    step=info.step)
        self.last_outputs = outputs  # the call's flat outputs, for observers (calibration)
        for observer in self.observers:
            observer(info, key, state, latent)
        if self.controller.wants_indicator and latent is not None:
            state.last_input = latent.detach().clone()
            if key.variant is not Variant.SKIP and getattr(self.controller, "indicator_kind", "latent") == "easycache":
                state.update_rate(state.last_input, next((o for o in outputs if isinstance(o, torch.Tensor)), None))
        state.calls += 1
        self._calls += 1
        self._record(info, key, reason, decision, values)
        if info.num_steps is not None and step >= info.num_steps - 1:
            state.clear()  # the generation's last step: free its caches now
        return variants.unflatten(outputs)

    def _check_probe(self, decision, key, reason, info, state, variants, leaves, outputs, caches, values):
        """First-block caching: accept the block step if the first computed block's fresh residual is
        within decision.probe of the cached one (one host read), else redo the step in full."""
        changes = [relative_change(value, state.caches[name[len("probe."):]])
                   for name, value in caches.items() if name.startswith("probe.")]
        change = host.read_values([torch.stack(changes).max()], self._group())[0]
        values["first_block_change"] = change
        if change < decision.probe:
            return key, f"first block changed {change:.3f} < {decision.probe}", outputs, caches
        full = VariantKey(Variant.FULL, residuals=True)
        outputs, caches = variants.get(full)(variants.tensors(leaves), state.caches)
        return full, f"first block changed {change:.3f} >= {decision.probe}: full", outputs, caches

    def _record(self, info: StepInfo, key: VariantKey, reason: str, decision: Decision, values: dict) -> None:
        detail = (",".join(map(str, key.reuse)) if key.variant is Variant.BLOCK
                  else f"k={key.tokens}" if key.variant is Variant.TOKEN else "")
        if key.variant in (Variant.SKIP, Variant.TOKEN):
            detail = " ".join(filter(None, (detail, self._forecast_detail)))
        signals = dict(decision.signals)
        for name in ("indicator", "first_block_change"):
            if name in values:
                signals[name] = values[name]
        self.trace.append(TraceRecord(self._calls, info.step, info.branch, key.variant.value, reason, detail,
                                      signals))

    def _group(self):
        """The context-parallel process group when the model has one (diffusers' enable_parallelism):
        then every host read is agreed across ranks (runtime/ranks.py)."""
        config = getattr(self.model, "_parallel_config", None)
        if config is not self._parallel[0]:
            self._parallel = (config, ranks.process_group(self.model))
        return self._parallel[1]

    def _known_step(self, state: BranchState) -> int | None:
        """The step index when the context gives it (no host read needed), else None."""
        step, restart = known_step(self._context.get("step_index"), state.calls, self._in_generation)
        if restart:
            state.clear()
        return step

    def _step_from_timestep(self, state: BranchState, timestep, values: dict, branch: str) -> tuple[int, dict]:
        """Count calls; a timestep that goes back up starts a new generation for this branch."""
        t = values.get("timestep", float(timestep) if isinstance(timestep, (int, float)) else None)
        order = timestep_order(t, state.last_timestep)
        if order == "restart":
            state.clear()
            values = {}  # what was read belonged to the previous generation
        elif order == "repeat" and not self._warned_repeat:
            self._warned_repeat = True
            logger.warning("two consecutive calls in branch %r share timestep %s: if they are the two CFG "
                           "branches, wrap each in opt.cache_context(name), or they share one cache and "
                           "count as two steps", branch, t)
        state.last_timestep = t
        return state.calls, values

    def _clock_reading(self, branch: str) -> Reading | None:
        """The scheduler's word on this call, unless generation() or a cache_context step index decides."""
        if self._clock is None or self._in_generation or self._context.get("step_index") is not None:
            return None
        return self._clock.read(branch)

    def _check_changes(self) -> None:
        """After a MUTATORS call: if the model no longer matches its captures, drop them and every cache
        now (this call captures again and runs full), instead of at the next generation."""
        self._dirty = False
        current = model_fingerprint(self.model)
        if any(v.fingerprint != current for v in self._variant_sets.values()):
            logger.info("%s changed (processors, adapters, fused projections or attributes); recapturing",
                        type(self.model).__name__)
            self._variant_sets.clear()
            for state in self._states.values():
                state.clear()

    def _variants_for(self, signature: InputSignature, kwargs: dict, fresh: bool) -> VariantSet:
        variants = self._variant_sets.get(signature)
        if variants is not None and fresh and variants.fingerprint != model_fingerprint(self.model):
            logger.info("%s changed since capture (parameters, modules, processors, adapters or attributes); "
                        "recapturing", type(self.model).__name__)
            self._variant_sets.clear()
            variants = None
        if variants is None:
            variants = self._build(self.model, kwargs, signature, self.xslim_config)
            self._variant_sets[signature] = variants
            while len(self._variant_sets) > self.xslim_config.max_signatures:
                self._variant_sets.popitem(last=False)
        self._variant_sets.move_to_end(signature)
        return variants

    def _choose(self, decision: Decision, info: StepInfo, state: BranchState, variants: VariantSet,
                pending: dict) -> tuple[VariantKey, str]:
        variant, reason = decision.variant, decision.reason
        full = full_key(self.controller.may_follow(info), VariantKey(Variant.TOKEN) in variants.failed)
        if variant is Variant.FULL:
            return full, reason
        facts = CacheFacts(delta=state.has("delta."), residuals=state.has("residual."),
                           kv_and_prev=state.has("kv.") and state.has("delta_prev."),
                           token_failed=variants.failed.get(VariantKey(Variant.TOKEN)))
        if (why := fallback(variant, reason, info.branch, facts)) is not None:
            return full, why
        reuse = decision.reuse if decision.reuse is not None else self.xslim_config.block_reuse
        auto = variant is Variant.BLOCK and reuse is None
        if "read" not in pending and (self.xslim_config.check_finite or (auto and state.energies is None)):
            pending = host.read_for_call(state, {}, self.xslim_config, need_energies=auto, group=self._group())
        if pending.get("finite", 1.0) < 0.5:
            return full, f"{reason}: non-finite value (NaN/Inf) in a cached tensor"
        if variant is Variant.SKIP:
            return VariantKey(Variant.SKIP, history=self._forecast(decision, info, state, pending)), reason
        if variant is Variant.TOKEN:
            ratio = decision.token_ratio if decision.token_ratio is not None else self.xslim_config.token_ratio
            return VariantKey(Variant.TOKEN, tokens=token_bucket(ratio, variants.image_tokens),
                              history=self._forecast(decision, info, state, pending)), reason
        if auto:
            # chosen once per generation (from its first full step's residual sizes), so that a
            # generation builds one block variant, not one per full step
            if state.reuse is None:
                state.reuse = select_reuse_blocks(state.energies, variants.stack.chain_starts(),
                                                  self.xslim_config.always_compute_blocks,
                                                  self.xslim_config.block_threshold)
            reuse = state.reuse
        return VariantKey(Variant.BLOCK, reuse=tuple(reuse), probe=decision.probe is not None), reason

    def _forecast(self, decision: Decision, info: StepInfo, state: BranchState, values: dict) -> int:
        """History length of the step's forecast; its weights go to self._extra (no host read: they
        depend on step indices only, and each distinct set is copied to the device once)."""
        order, weights, self._forecast_detail = forecast_plan(
            decision.estimator or self.xslim_config.estimator, info.step, state.history,
            values.get("history_finite", 1.0) >= 0.5)
        if weights is None:
            return 1
        delta = next(v for k, v in state.caches.items() if k.startswith("delta."))
        key = (weights, delta.device)
        if key not in self._weights:
            if len(self._weights) > 256:
                self._weights.clear()
            self._weights[key] = torch.tensor(weights, dtype=torch.float32, device=delta.device)
        self._extra[WEIGHTS] = self._weights[key]
        return order

    def _buildable(self, key: VariantKey, reason: str, variants: VariantSet, info: StepInfo) -> tuple[VariantKey, str]:
        """Fail soft: a variant that cannot be built or verified for this signature runs full instead
        (logged once, the reason in the trace, not tried again); XSlimConfig(strict=True) raises."""
        if key.variant is Variant.FULL:
            return key, reason
        full = full_key(self.controller.may_follow(info), VariantKey(Variant.TOKEN) in variants.failed)
        failed = variants.failed.get(key)
        if failed is None:
            try:
                variants.get(key)
                return key, reason
            except XSlimError as error:
                if self.xslim_config.strict:
                    raise
                failed = variants.failed[key] = f"{type(error).__name__}: {error}"
                logger.warning("%s: variant %s could not be built (%s); its steps run full", type(self.model).__name__,
                               key, failed)
        return full, f"{reason}; fallback to full: {key} could not be built ({failed})"

