"""Rank-consistent decisions under diffusers' context parallelism (model.enable_parallelism).

Every rank must run the same variant at every step: the variant graphs hold the collectives of the
parallel attention, and ranks that run different graphs deadlock or mix steps. Decisions are pure
functions of the plan and of the values the runtime reads on the host, so two things keep the ranks
together: the plan and settings are checked equal at each branch's first call of a generation
(`check_same`), and the one
host read per step is all-reduced first (`agree`), so every rank decides on the same numbers.
"""
from __future__ import annotations

import hashlib
import json

import torch

from ..errors import ConfigError


def process_group(model):
    """The group of the model's context-parallel mesh, or None when the model runs on one rank."""
    config = getattr(model, "_parallel_config", None)
    cp = getattr(config, "context_parallel_config", None)
    if cp is None or not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return None
    mesh = getattr(cp, "_flattened_mesh", None)  # the mesh diffusers' own splits and gathers use
    if mesh is None:
        return None
    group = mesh.get_group()
    return group if torch.distributed.get_world_size(group) > 1 else None


def agree(flat: torch.Tensor, lowest: torch.Tensor, group) -> torch.Tensor:
    """One all-reduce of a call's read values: the maximum over ranks, except where `lowest` is true
    (the finiteness flags), which take the minimum, so one rank's NaN/Inf sends every rank to full.
    The maximum makes a rank-local indicator (a probe on a token shard) err towards computing."""
    signed = torch.where(lowest, -flat, flat)
    torch.distributed.all_reduce(signed, op=torch.distributed.ReduceOp.MAX, group=group)
    return torch.where(lowest, -signed, signed)


def digest(config, controller) -> str:
    """What decides the variants: the plan (or schedule) and the runtime settings, as a short hash."""
    plan = config.plan.to_dict() if config.plan is not None else None
    schedule = [str(v) for v in config.schedule] if config.schedule is not None else None
    settings = {k: repr(getattr(config, k)) for k in ("block_reuse", "block_threshold", "always_compute_blocks",
                                                      "token_ratio", "estimator", "check_finite")}
    text = json.dumps([plan, schedule, settings, type(controller).__name__], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_same(value: str, group, model_name: str) -> None:
    """All-gather the plan digest (at a branch's first call); a rank with another plan is an error on every rank."""
    values: list = [None] * torch.distributed.get_world_size(group)
    torch.distributed.all_gather_object(values, value, group=group)
    if len(set(values)) > 1:
        raise ConfigError(
            f"{model_name} under context parallelism: the ranks hold different X-Slim plans or settings "
            f"(digest per rank: {values}); give every rank the same XSlimConfig, or their variant choices, "
            f"and the collectives inside them, would diverge")
