"""optimize(): wires the compile side (capture, passes, lowering) into the runtime module."""
from __future__ import annotations

import logging

from torch import nn

from .build import build_variant_set, check_no_cache_hooks
from .capture import find_block_candidates
from .config import XSlimConfig
from .errors import ArgumentError, UnsupportedModelError
from .runtime.controller import Controller
from .runtime.module import OptimizedDenoiser

logger = logging.getLogger(__name__)
_told_about_the_pipeline_form = False


def optimize(target, config: XSlimConfig | None = None, *, controller: Controller | None = None
             ) -> OptimizedDenoiser:
    """Wrap a diffusers denoiser so that each denoising call runs a captured, rewritten variant.

    target: the denoiser (module form), or a diffusers pipeline (pipeline form): then
    `pipe.transformer` is replaced by the optimized module, which reads step positions, step counts
    and generation boundaries from `pipe.scheduler` at every call (runtime/position.py), and the
    module is returned. Capture happens on the first call (torch.export needs real inputs) and again
    for every new input signature. `controller` overrides the one the config implies (e.g. a baseline).
    """
    global _told_about_the_pipeline_form
    pipe = target if hasattr(target, "transformer") and hasattr(target, "scheduler") else None
    model = pipe.transformer if pipe is not None else target
    if isinstance(model, OptimizedDenoiser):
        raise ArgumentError("model is already optimized; pass the original denoiser (opt.model)")
    if not isinstance(model, nn.Module):
        raise ArgumentError(f"optimize() expects a torch.nn.Module or a diffusers pipeline with a transformer, got "
                            f"{type(target).__name__}")
    config = config if config is not None else XSlimConfig()
    if not isinstance(config, XSlimConfig):
        raise ArgumentError(f"config must be an XSlimConfig, got {type(config).__name__}")
    check_no_cache_hooks(model)
    if config.plan is not None:
        config.plan.check_model(model)
    if not find_block_candidates(model):
        raise UnsupportedModelError(
            f"{type(model).__name__} has no nn.ModuleList of at least two blocks of one class; xslim_compile "
            f"needs a chain of sibling transformer blocks, each consuming the previous one's hidden states")
    module = OptimizedDenoiser(model.eval(), config, build_variant_set, controller)
    if pipe is not None:
        module.attach(pipe)
        pipe.transformer = module
    elif not _told_about_the_pipeline_form:
        _told_about_the_pipeline_form = True
        logger.info("optimize(model): a new generation is seen when the timestep goes back up, inside "
                    "opt.generation(num_steps) or from cache_context(step_index=0); xs.optimize(pipe) reads "
                    "every generation boundary and step count from the pipeline's scheduler")
    return module
