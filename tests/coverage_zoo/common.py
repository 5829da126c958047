"""Helpers the zoo parts share."""
from __future__ import annotations

import torch


def build(cls_name: str, **sizes) -> torch.nn.Module:
    """The diffusers class with its defaults and these sizes, seeded, in eval mode."""
    import diffusers

    torch.manual_seed(0)
    return getattr(diffusers, cls_name)(**sizes).eval()


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
