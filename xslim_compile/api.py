"""optimize(): wires the compile side (capture, passes, lowering) into the runtime module."""
from __future__ import annotations

from torch import nn

from .build import build_variant_set, check_no_cache_hooks
from .capture import find_block_candidates
from .config import XSlimConfig
from .errors import UnsupportedModelError
from .runtime.controller import Controller
from .runtime.module import OptimizedDenoiser


def optimize(model: nn.Module, config: XSlimConfig | None = None, *, controller: Controller | None = None
             ) -> OptimizedDenoiser:
    """Wrap a diffusers denoiser so that each denoising call runs a captured, rewritten variant.

    Capture happens on the first call (torch.export needs real inputs) and again for every new input
    signature. The result replaces `pipe.transformer` and is called exactly like the original.
    `controller` overrides the one the config implies (e.g. a baseline from xslim_compile.baselines).
    """
    if isinstance(model, OptimizedDenoiser):
        raise TypeError("model is already optimized; pass the original denoiser (opt.model)")
    if not isinstance(model, nn.Module):
        raise TypeError(f"optimize() expects a torch.nn.Module, got {type(model).__name__}")
    config = config if config is not None else XSlimConfig()
    if not isinstance(config, XSlimConfig):
        raise TypeError(f"config must be an XSlimConfig, got {type(config).__name__}")
    check_no_cache_hooks(model)
    if config.plan is not None:
        config.plan.check_model(model)
    if not find_block_candidates(model):
        raise UnsupportedModelError(
            f"{type(model).__name__} has no nn.ModuleList of at least two blocks of one class; xslim_compile "
            f"needs a chain of sibling transformer blocks, each consuming the previous one's hidden states")
    return OptimizedDenoiser(model.eval(), config, build_variant_set, controller)
