"""Call-site patches applied only while torch.export captures a model (issue 11 allows at most five).

Each replaces one diffusers function whose code export cannot trace (a host read of a data-dependent
value) by an equivalent that it can, keyed by the function it patches and naming the line it works
around. The eager model is never patched: build-time verification compares the captured graph, patch
included, with the unpatched model.
"""
from __future__ import annotations

import contextlib
import importlib
import math
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Patch:
    target: str         # "module:Class.attribute"
    works_around: str   # the line export cannot trace
    replacement: Callable
    cost: str           # what the patched graph computes differently


def _dense_moe_infer(self, x, flat_expert_indices, flat_expert_weights):
    """Every routed expert on every token, weighted by its routing weight (0 where not chosen)."""
    k = self.num_activated_experts
    chosen, weights = flat_expert_indices.view(-1, k), flat_expert_weights.view(-1, k)
    out = torch.zeros_like(x)
    for i, expert in enumerate(self.experts):
        out = out + expert(x) * (weights * (chosen == i)).sum(-1, keepdim=True).to(x.dtype)
    return out


def _omnigen_rope_forward(self, hidden_states, position_ids):
    """The same RoPE with the long/short factor choice made on the device (torch.where), not in Python."""
    device = hidden_states.device
    long = torch.tensor(self.long_factor, dtype=torch.float32, device=device)
    short = torch.tensor(self.short_factor, dtype=torch.float32, device=device)
    ext_factors = torch.where(torch.max(position_ids) + 1 > self.original_max_position_embeddings, long, short)
    inv_freq_shape = torch.arange(0, self.dim, 2, dtype=torch.int64, device=device).float() / self.dim
    inv_freq = 1.0 / (ext_factors * self.base**inv_freq_shape)
    device_type = device.type if device.type != "mps" else "cpu"
    with torch.autocast(device_type=device_type, enabled=False):  # float32, as the original
        freqs = (inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
                 @ position_ids[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)[0]
        scale = self.max_position_embeddings / self.original_max_position_embeddings
        scaling = 1.0 if scale <= 1.0 else math.sqrt(1 + math.log(scale) / math.log(self.original_max_position_embeddings))
        return emb.cos() * scaling, emb.sin() * scaling


PATCHES = (
    Patch("diffusers.models.transformers.transformer_hidream_image:MOEFeedForwardSwiGLU.moe_infer",
          "tokens_per_expert = flat_expert_indices.bincount().cpu().numpy().cumsum(0)", _dense_moe_infer,
          "runs each routed expert on all tokens: num_routed_experts / num_activated_experts times the "
          "routed FFN work (HiDream-I1: 4 / 2)"),
    Patch("diffusers.models.transformers.transformer_omnigen:OmniGenSuScaledRotaryEmbedding.forward",
          "if seq_len > self.original_max_position_embeddings:", _omnigen_rope_forward,
          "none (the same values; the factor is chosen by torch.where)"),
)


@contextlib.contextmanager
def capture_patches():
    """Apply every patch whose module imports; restore the originals afterwards."""
    applied = []
    try:
        for patch in PATCHES:
            module_name, _, attribute = patch.target.partition(":")
            owner_name, _, name = attribute.rpartition(".")
            try:
                owner = getattr(importlib.import_module(module_name), owner_name)
            except (ImportError, AttributeError):
                continue  # another diffusers version: nothing to patch
            applied.append((owner, name, owner.__dict__[name]))
            setattr(owner, name, patch.replacement)
        yield
    finally:
        for owner, name, original in reversed(applied):
            setattr(owner, name, original)
