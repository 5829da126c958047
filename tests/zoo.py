"""Tiny diffusers transformers with random weights, and inputs for them (the test model zoo)."""
from __future__ import annotations

import torch


def make_dit(num_layers: int = 4, seed: int = 0, num_classes: int = 10):
    from diffusers import DiTTransformer2DModel

    torch.manual_seed(seed)
    return DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8,
                                 num_layers=num_layers, sample_size=8, patch_size=2,
                                 num_embeds_ada_norm=num_classes).eval()


def dit_inputs(batch: int = 2, seed: int = 1, timestep: float = 500.0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(batch, 4, 8, 8, generator=g),
                timestep=torch.full((batch,), timestep),
                class_labels=torch.arange(batch) % 10)


def make_pixart(num_layers: int = 4, seed: int = 0):
    from diffusers import PixArtTransformer2DModel

    torch.manual_seed(seed)
    return PixArtTransformer2DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8,
                                    num_layers=num_layers, sample_size=8, patch_size=2, cross_attention_dim=16,
                                    caption_channels=32, norm_type="ada_norm_single",
                                    use_additional_conditions=False).eval()


def pixart_inputs(batch: int = 2, seed: int = 1, timestep: float = 500.0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(batch, 4, 8, 8, generator=g),
                encoder_hidden_states=torch.randn(batch, 6, 32, generator=g),
                timestep=torch.full((batch,), timestep))


def make_sd3(num_layers: int = 4, seed: int = 0):
    from diffusers import SD3Transformer2DModel

    torch.manual_seed(seed)
    return SD3Transformer2DModel(sample_size=8, patch_size=2, in_channels=4, num_layers=num_layers,
                                 attention_head_dim=8, num_attention_heads=2, joint_attention_dim=32,
                                 caption_projection_dim=16, pooled_projection_dim=16, out_channels=4,
                                 pos_embed_max_size=16).eval()


def sd3_inputs(batch: int = 2, seed: int = 1, timestep: float = 500.0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(batch, 4, 8, 8, generator=g),
                encoder_hidden_states=torch.randn(batch, 6, 32, generator=g),
                pooled_projections=torch.randn(batch, 16, generator=g),
                timestep=torch.full((batch,), timestep))


def make_flux(num_layers: int = 2, num_single_layers: int = 2, seed: int = 0):
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(seed)
    return FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=num_layers,
                                  num_single_layers=num_single_layers, attention_head_dim=8,
                                  num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=16,
                                  axes_dims_rope=(2, 2, 4)).eval()


def flux_inputs(batch: int = 2, seed: int = 1, timestep: float = 0.5) -> dict:
    g = torch.Generator().manual_seed(seed)
    side, text = 4, 5
    img_ids = torch.zeros(side, side, 3)
    img_ids[..., 1] = torch.arange(side)[:, None]
    img_ids[..., 2] = torch.arange(side)[None, :]
    return dict(hidden_states=torch.randn(batch, side * side, 16, generator=g),
                encoder_hidden_states=torch.randn(batch, text, 32, generator=g),
                pooled_projections=torch.randn(batch, 16, generator=g),
                timestep=torch.full((batch,), timestep),
                img_ids=img_ids.reshape(-1, 3),
                txt_ids=torch.zeros(text, 3))


FAMILIES = {
    "dit": (make_dit, dit_inputs),
    "pixart": (make_pixart, pixart_inputs),
    "sd3": (make_sd3, sd3_inputs),
    "flux": (make_flux, flux_inputs),
}
