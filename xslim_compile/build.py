"""Per input signature: capture, analyse, build each variant on demand, verify it, lower it."""
from __future__ import annotations

import copy
import logging

import torch
from torch import fx, nn
from torch.utils import _pytree as pytree

from .capture import capture, find_block_candidates
from .config import XSlimConfig
from .errors import CacheHookError, ConfigError, UnsupportedModelError, XSlimError
from .forecast import WEIGHTS, Estimator, forecast_weights
from .lowering import lower
from .passes import PassContext, run_passes
from .passes.emit_caches import EmitCaches
from .passes.find_stack import FindStack
from .passes.graph_edit import CACHE_INPUTS, CACHE_OUTPUTS, STACK, USER_OUTPUTS, copy_graph_module
from .passes.reuse_blocks import ReuseBlocks
from .passes.select_tokens import SelectTokens
from .passes.skip_stack import SkipStack
from .passes.strip_asserts import StripAsserts
from .passes.token_axis import TokenPlan, analyse_tokens
from .plan import Variant
from .runtime.policies import token_bucket
from .runtime.guards import model_fingerprint
from .runtime.signature import InputSignature
from .runtime.variant_set import CompiledVariant, VariantKey, VariantSet
from .verify import check_outputs, first_divergent_block, first_divergent_node, tolerance

logger = logging.getLogger(__name__)


def check_no_cache_hooks(model: nn.Module) -> None:
    """A diffusers cache hook changes what forward computes between calls; export would bake one state."""
    found = []
    for path, module in model.named_modules():
        registry = getattr(module, "_diffusers_hook", None)
        for name, hook in getattr(registry, "hooks", {}).items():
            if getattr(hook, "_is_stateful", False) or "cache" in name or "broadcast" in name:
                found.append(f"{path or type(model).__name__}:{name}")
    if found or getattr(model, "_cache_config", None) is not None:
        raise CacheHookError(f"{type(model).__name__} already carries diffusers cache hooks "
                             f"{found or ['(enable_cache)']}; call model.disable_cache() (or remove the hooks) "
                             f"before xslim_compile.optimize(), which does the caching itself")


class VariantBuilder:
    """Builds the variants of one captured signature; each is verified on the capture inputs."""

    def __init__(self, model: nn.Module, kwargs: dict, config: XSlimConfig) -> None:
        self.model, self.config = model, config
        self.name = type(model).__name__
        captured = capture(model, kwargs, find_block_candidates(model))
        self.captured = captured
        self.ctx = PassContext(self.name, captured.block_calls)
        self.base, self.analysis = run_passes(captured.gm, self.ctx, (StripAsserts(), FindStack()))
        self.stack = self.base.meta[STACK]
        self._check_config()
        # the capture inputs, kept (cloned) to verify variants built later, and the eager reference
        self.kwargs = pytree.tree_map(lambda x: x.clone() if isinstance(x, torch.Tensor) else x, kwargs)
        leaves = pytree.tree_flatten(((), self.kwargs))[0]
        self.args = [leaves[i] for i in captured.tensor_positions]
        with torch.no_grad():
            self.reference = pytree.tree_flatten(model(**self.kwargs))[0]
        self.dtype = next((a.dtype for a in self.args if a.is_floating_point()), torch.float32)
        self._graphs: dict[VariantKey, fx.GraphModule] = {}
        self._token_plan: TokenPlan | None = None

    def with_config(self, config: XSlimConfig) -> "VariantBuilder":
        """This capture under another configuration (another backend, say): the capture, its analysis and
        the rewritten graphs are shared; lowering and verification follow `config`."""
        other = copy.copy(self)
        other.config = config
        # the rewritten graphs cast caches to the cache dtype: shared only where it is the same
        other._graphs = dict(self._graphs) if config.cache_dtype == self.config.cache_dtype else {}
        other._check_config()
        return other

    @property
    def token_plan(self) -> TokenPlan:
        """The token-axis analysis (raises UnsupportedModelError where the token variant cannot exist)."""
        if self._token_plan is None:
            self._token_plan = analyse_tokens(self.base, self.stack, self.name)
        return self._token_plan

    def _check_config(self) -> None:
        if self.config.plan is not None:
            self.config.plan.check_blocks(self.stack.num_blocks)
        reuse = self.config.block_reuse or ()
        bad = [i for i in reuse if i >= self.stack.num_blocks]
        if bad:
            raise ConfigError(f"XSlimConfig.block_reuse has {bad}, but {self.name} has {self.stack.num_blocks} "
                              f"blocks; expected indices in 0..{self.stack.num_blocks - 1}")

    def graph(self, key: VariantKey) -> fx.GraphModule:
        """The rewritten (unlowered) graph of a variant."""
        if key not in self._graphs:
            cache_dtype = self.config.cache_dtype
            if key.variant is Variant.FULL:
                kv = self.token_plan.attention if key.kv else ()
                passes = (EmitCaches(residuals=key.residuals, kv_nodes=kv, cache_dtype=cache_dtype),)
            elif key.variant is Variant.SKIP:
                passes = (SkipStack(key.history),)
            elif key.variant is Variant.BLOCK:
                passes = (ReuseBlocks(key.reuse, cache_dtype, key.probe),)
            else:
                passes = (SelectTokens(self.token_plan, key.tokens, cache_dtype, key.history),)
            gm, _ = run_passes(copy_graph_module(self.base), self.ctx, passes)
            self._graphs[key] = gm
            blocks = [k for k in self._graphs if k.variant is Variant.BLOCK]
            if len(blocks) > self.config.max_block_variants:  # as many as the runtime keeps compiled
                del self._graphs[blocks[0]]
        return self._graphs[key]

    def _as_variant(self, key: VariantKey, run) -> CompiledVariant:
        gm = self.graph(key)
        return CompiledVariant(key, run, tuple(gm.meta.get(CACHE_INPUTS, ())), tuple(gm.meta.get(CACHE_OUTPUTS, ())),
                               gm.meta.get(USER_OUTPUTS, len(self.reference)))

    def build(self, key: VariantKey) -> CompiledVariant:
        variant = self._as_variant(key, lower(self.graph(key), self.config.backend, self.config.compile_mode))
        if self.config.verify:
            self.verify(variant)
        return variant

    def _run_full(self, key: VariantKey) -> tuple[list, dict]:
        with torch.no_grad():
            return self._as_variant(key, self.graph(key))(self.args, {})

    def verify(self, variant: CompiledVariant) -> None:
        key, gm = variant.key, self.graph(variant.key)
        compiled = self.config.backend != "eager"
        tol = tolerance(self.dtype, compiled)
        if key.variant is Variant.FULL:
            with torch.no_grad():
                got, _ = variant(self.args, {})
            check_outputs(f"variant {key} against eager", self.name, got, self.reference, tol,
                          lambda: first_divergent_block(self.model, self.kwargs, gm, self.args, self.stack, tol))
            return
        # the caches of the same inputs make every approximate variant exact: a check of the rewrite
        # (up to the rounding of caches kept in a smaller dtype)
        if self.config.cache_dtype is not None:
            tol = max(tol, tolerance(self.config.cache_dtype, compiled))
        full_key = VariantKey(Variant.FULL, residuals=key.variant is Variant.BLOCK, kv=key.variant is Variant.TOKEN)
        want, caches = self._run_full(full_key)
        for name, value in list(caches.items()):
            if name.startswith("delta."):
                slot = name[len("delta."):]
                # any previous Δ will do for scoring; a forecast from a constant history is exact
                # for any weights that sum to one (every estimator's do)
                caches[f"delta_prev.{slot}"] = value if key.history > 1 else torch.zeros_like(value)
                caches[f"delta_prev2.{slot}"] = value
        if key.history > 1:
            weights = forecast_weights(Estimator("check", key.history), 9, (6, 3, 1))  # far extrapolation
            caches[WEIGHTS] = torch.tensor(weights, dtype=torch.float32, device=value.device)
        with torch.no_grad():
            got, _ = variant(self.args, caches)
        full_gm = self.graph(full_key)
        cache_args = [caches[n] for n in variant.cache_inputs]
        check_outputs(f"variant {key} fed the caches of the same inputs, against full", self.name, got, want,
                      tol, lambda: first_divergent_node(gm, self.args + cache_args, full_gm, self.args, tol,
                                                   {n.name for n in self.base.graph.nodes}))


def image_token_count(builder: VariantBuilder) -> int:
    """Rows of the image stream entering the stack (the N of token buckets)."""
    spec = builder.stack
    node = next(n for n in builder.base.graph.nodes if n.name == spec.stack_inputs[spec.read_slots[0]])
    shape = node.meta["val"].shape
    return int(shape[1]) if len(shape) == 3 else 0


def build_variant_set(model: nn.Module, kwargs: dict, signature: InputSignature, config: XSlimConfig,
                      builder: VariantBuilder | None = None) -> VariantSet:
    """The compile side of OptimizedDenoiser: called on the first call of each input signature.
    `builder`: an earlier capture of this model and signature to reuse (VariantBuilder.with_config)."""
    check_no_cache_hooks(model)
    if builder is not None and builder.model is not model:
        raise ConfigError(f"build_variant_set: the builder given captured another {builder.name} instance")
    builder = builder or VariantBuilder(model, kwargs, config)
    variants = VariantSet(signature, builder.captured.out_spec, builder.captured.tensor_positions,
                          builder.stack, image_token_count(builder), builder.build, model_fingerprint(model),
                          config.max_block_variants)
    tokens = config.uses(Variant.TOKEN)
    if tokens:
        try:
            builder.token_plan  # a model whose attention cannot be rewritten fails here, by name
        except UnsupportedModelError as error:
            if config.strict:
                raise
            tokens = False  # its token steps run full (runtime: fail soft)
            variants.failed[VariantKey(Variant.TOKEN)] = f"{type(error).__name__}: {error}"
            logger.warning("%s: no token steps (%s); they run full", builder.name, error)
    variants.get(VariantKey(Variant.FULL, residuals=config.uses(Variant.BLOCK), kv=tokens))
    if config.uses(Variant.SKIP):
        for order in config.forecast_orders():
            _prebuild(variants, VariantKey(Variant.SKIP, history=order), config)
    if config.uses(Variant.BLOCK) and config.block_reuse is not None:
        _prebuild(variants, VariantKey(Variant.BLOCK, reuse=config.block_reuse), config)
    if tokens:
        _prebuild(variants, VariantKey(Variant.TOKEN, tokens=token_bucket(config.token_ratio, variants.image_tokens)),
                  config)
    variants.builder = builder  # kept for inspection (tests, benchmarks)
    logger.info("%s: stack of %d blocks in %d chain(s); built %s", builder.name, builder.stack.num_blocks,
                len(builder.stack.chain_paths), [str(k) for k in variants.built()])
    return variants


def _prebuild(variants: VariantSet, key: VariantKey, config: XSlimConfig) -> None:
    """Build a variant the configuration will use; one that fails is recorded for the runtime, whose
    steps then run full (fail soft), unless strict."""
    try:
        variants.get(key)
    except XSlimError as error:
        if config.strict:
            raise
        variants.failed[key] = f"{type(error).__name__}: {error}"
        logger.warning("%s: variant %s could not be built (%s); its steps run full", type(variants).__name__, key,
                       variants.failed[key])
