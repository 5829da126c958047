"""Coverage zoo, part B: DiT .. HunyuanVideo (diffusers 0.42.1 `diffusers.models.transformers`).

Each make_x builds the class with its default arguments, only sizes shrunk (2 blocks per block list, 2 heads of
16, small widths/text dims/sequence lengths); each x_inputs returns the kwargs its pipeline passes at one step.
"""
from __future__ import annotations

import torch

from tests.coverage_zoo import Entry
from tests.coverage_zoo.common import gen as _gen

B = 2  # the CFG batch of one prompt, or 2 images/videos where the pipeline calls cond and uncond separately


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g)


def _mask(lengths: list[int], total: int) -> torch.Tensor:
    """A tokenizer attention mask padded to `total`: ones for the first `length` tokens of each row (int64)."""
    return (torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]).long()


def _flux_img_ids(h: int, w: int) -> torch.Tensor:
    """FluxPipeline._prepare_latent_image_ids: (h*w, 3) float, (0, row, col)."""
    ids = torch.zeros(h, w, 3)
    ids[..., 1] = ids[..., 1] + torch.arange(h)[:, None]
    ids[..., 2] = ids[..., 2] + torch.arange(w)[None, :]
    return ids.reshape(h * w, 3)


def _eval(model: torch.nn.Module) -> torch.nn.Module:
    return model.float().eval()


# --- DiT --------------------------------------------------------------------------------------------------------

def make_dit():
    from diffusers import DiTTransformer2DModel

    torch.manual_seed(0)
    # out_channels=8 as in facebook/DiT-XL-2-*: DiTPipeline reads config.out_channels // 2 (the default None crashes
    # it) and splits off the learned sigma.
    return _eval(DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=16, out_channels=8, num_layers=2,
                                       sample_size=8))


def dit_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=_randn(g, B, 4, 8, 8),
                timestep=torch.full((B,), int(timestep), dtype=torch.long),  # scheduler.timesteps (int64) expanded
                class_labels=torch.tensor([207, 1000]))  # [label, null class 1000]


# --- EasyAnimate ------------------------------------------------------------------------------------------------

def make_easyanimate():
    from diffusers import EasyAnimateTransformer3DModel

    torch.manual_seed(0)
    # in/out_channels and patch_size default to None (unbuildable): the EasyAnimateV5.1 values (16, 16, 2).
    return _eval(EasyAnimateTransformer3DModel(num_attention_heads=2, attention_head_dim=16, in_channels=16,
                                               out_channels=16, patch_size=2, num_layers=2, mmdit_layers=2,
                                               time_embed_dim=32, text_embed_dim=32))


def easyanimate_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=_randn(g, B, 16, 3, 8, 8),  # latent frames: (9 - 1) // 4 + 1
                timestep=torch.full((B,), float(timestep)),  # t_expand: flow-match t in 0..1000, latent dtype
                encoder_hidden_states=_randn(g, B, 6, 32),  # [negative, positive] Qwen2-VL states
                return_dict=False)


# --- ERNIE-Image ------------------------------------------------------------------------------------------------

def make_ernie_image():
    from diffusers import ErnieImageTransformer2DModel

    torch.manual_seed(0)
    # adaLN_modulation and final_linear start at zero (eager output all zeros); benchmarks.coverage wakes them
    return _eval(ErnieImageTransformer2DModel(hidden_size=32, num_attention_heads=2, num_layers=2,
                                              ffn_hidden_size=64, text_in_dim=24, rope_axes_dim=(4, 6, 6)))


def ernie_image_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    lens = torch.tensor([4, 7])  # [negative, positive] prompts, padded by _pad_text to the longest
    text = _randn(g, B, 7, 24) * (torch.arange(7)[None, :, None] < lens[:, None, None])
    return dict(hidden_states=_randn(g, B, 128, 4, 4),  # 2x2-patchified 32-channel latents
                timestep=torch.full((B,), float(timestep)),
                text_bth=text, text_lens=lens, return_dict=False)


# --- FLUX.2 -----------------------------------------------------------------------------------------------------

def _flux2_ids(text: int) -> dict:
    latent_ids = torch.cartesian_prod(torch.arange(1), torch.arange(4), torch.arange(4), torch.arange(1))
    txt_ids = torch.cartesian_prod(torch.arange(1), torch.arange(1), torch.arange(1), torch.arange(text))
    return dict(img_ids=latent_ids.unsqueeze(0).expand(B, -1, -1), txt_ids=txt_ids.unsqueeze(0).expand(B, -1, -1))


def make_flux2(guidance_embeds: bool = True):
    from diffusers import Flux2Transformer2DModel

    torch.manual_seed(0)
    return _eval(Flux2Transformer2DModel(num_layers=2, num_single_layers=2, attention_head_dim=16,
                                         num_attention_heads=2, joint_attention_dim=32, axes_dims_rope=(4, 4, 4, 4),
                                         guidance_embeds=guidance_embeds))


def make_flux2_klein():
    return make_flux2(guidance_embeds=False)


def flux2_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=_randn(g, B, 16, 128),  # 4x4 packed tokens of 4 * 32 channels
                timestep=torch.full((B,), float(timestep)),  # t / 1000
                guidance=torch.full((B,), 4.0),
                encoder_hidden_states=_randn(g, B, 6, 32),
                **_flux2_ids(6), return_dict=False)


def flux2_klein_inputs(timestep: float, seed: int) -> dict:
    inputs = flux2_inputs(timestep, seed)
    inputs["guidance"] = None  # Flux2KleinPipeline passes guidance=None; cond and uncond are separate calls
    return inputs


# --- FLUX.3 -----------------------------------------------------------------------------------------------------

def make_flux3(flow_map: bool = False):
    from diffusers import Flux3Transformer2DModel

    torch.manual_seed(0)
    return _eval(Flux3Transformer2DModel(num_layers=2, num_single_layers=2, attention_head_dim=16,
                                         num_attention_heads=2, joint_attention_dim=32, axes_dims_rope=(4, 4, 4, 4),
                                         flow_map=flow_map))


def make_flux3_distilled():
    return make_flux3(flow_map=True)


def flux3_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    img_ids = torch.cartesian_prod(torch.arange(1), torch.arange(4), torch.arange(4), torch.tensor([0])).float()
    img_ids[:, 1:3] *= 0.5  # image_rope_scale
    txt_ids = torch.cartesian_prod(torch.arange(1), torch.arange(1), torch.arange(1), torch.arange(6)).float()
    return dict(hidden_states=_randn(g, B, 16, 128), encoder_hidden_states=_randn(g, B, 6, 32),
                timestep=torch.full((B,), float(timestep)),  # t / 1000
                img_ids=img_ids, txt_ids=txt_ids, return_dict=False)


def flux3_distilled_inputs(timestep: float, seed: int) -> dict:
    inputs = flux3_inputs(timestep, seed)
    # the timestep this step jumps to: the next one of 16 steps, 0 after the last
    inputs["target_timestep"] = torch.full((B,), max(float(timestep) - 1 / 16, 0.0))
    return inputs


# --- FLUX.1 -----------------------------------------------------------------------------------------------------

def make_flux(guidance_embeds: bool = False):
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    return _eval(FluxTransformer2DModel(num_layers=2, num_single_layers=2, attention_head_dim=16,
                                        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=16,
                                        axes_dims_rope=(4, 6, 6), guidance_embeds=guidance_embeds))


def make_flux_dev():
    return make_flux(guidance_embeds=True)


def flux_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=_randn(g, B, 16, 64),  # 4x4 packed tokens of 4 * 16 channels
                timestep=torch.full((B,), float(timestep)),  # t / 1000
                guidance=None,
                pooled_projections=_randn(g, B, 16), encoder_hidden_states=_randn(g, B, 6, 32),
                txt_ids=torch.zeros(6, 3), img_ids=_flux_img_ids(4, 4), return_dict=False)


def flux_dev_inputs(timestep: float, seed: int) -> dict:
    inputs = flux_inputs(timestep, seed)
    inputs["guidance"] = torch.full((B,), 3.5)
    return inputs


# --- GLM-Image --------------------------------------------------------------------------------------------------

def make_glm_image():
    from diffusers import GlmImageTransformer2DModel

    torch.manual_seed(0)
    return _eval(GlmImageTransformer2DModel(num_layers=2, attention_head_dim=16, num_attention_heads=2,
                                            text_embed_dim=32, time_embed_dim=32))


def glm_image_inputs(timestep: float, seed: int) -> dict:
    from diffusers.models.transformers.transformer_glm_image import GlmImageKVCache

    g = _gen(seed)
    # the conditional call (the unconditional one is separate, with prior_token_drop all True)
    return dict(hidden_states=_randn(g, B, 16, 8, 8), encoder_hidden_states=_randn(g, B, 5, 32),
                prior_token_id=torch.randint(0, 16384, (B, 16), generator=g),
                prior_token_drop=torch.zeros(B, 16, dtype=torch.bool),
                timestep=torch.full((B,), float(timestep)),  # t - 1
                target_size=torch.tensor([[64.0, 64.0]] * B), crop_coords=torch.zeros(B, 2),
                return_dict=False, kv_caches=GlmImageKVCache(num_layers=2))


# --- Helios -----------------------------------------------------------------------------------------------------

def make_helios():
    from diffusers import HeliosTransformer3DModel

    torch.manual_seed(0)
    return _eval(HeliosTransformer3DModel(num_attention_heads=2, attention_head_dim=16, text_dim=32, ffn_dim=64,
                                          num_layers=2, rope_dim=(4, 6, 6)))


def helios_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    history_sizes, chunk = [16, 2, 1], 3  # pipeline history sizes; a 3-latent-frame chunk (default 9)
    idx = torch.arange(0, sum([1, *history_sizes, chunk]))
    prefix, long, mid, one_x, hidden = idx.split([1, *history_sizes, chunk])
    return dict(hidden_states=_randn(g, B, 16, chunk, 8, 8),
                timestep=torch.full((B,), float(timestep)),
                encoder_hidden_states=_randn(g, B, 6, 32),
                indices_hidden_states=hidden[None],
                indices_latents_history_short=torch.cat([prefix, one_x])[None],
                indices_latents_history_mid=mid[None], indices_latents_history_long=long[None],
                latents_history_short=_randn(g, B, 16, 2, 8, 8), latents_history_mid=_randn(g, B, 16, 2, 8, 8),
                latents_history_long=_randn(g, B, 16, 16, 8, 8), return_dict=False)


# --- HiDream-I1 -------------------------------------------------------------------------------------------------

def make_hidream():
    from diffusers import HiDreamImageTransformer2DModel

    torch.manual_seed(0)
    # patch_size, caption_channels and llama_layers default to None and axes_dims_rope to (32, 32) for 3-axis ids:
    # none of them runs, so these follow HiDream-I1 (patch 2, 16 channels, rope (64, 32, 32) of a 128 head dim).
    return _eval(HiDreamImageTransformer2DModel(patch_size=2, in_channels=16, out_channels=16, num_layers=2,
                                                num_single_layers=2, attention_head_dim=16, num_attention_heads=2,
                                                caption_channels=[32, 24], text_emb_dim=32, axes_dims_rope=(8, 4, 4),
                                                llama_layers=[0, 1, 2, 3]))


def hidream_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=_randn(g, B, 16, 8, 8), timesteps=torch.full((B,), float(timestep)),
                encoder_hidden_states_t5=_randn(g, B, 6, 32),
                encoder_hidden_states_llama3=_randn(g, 4, B, 5, 24),  # stacked Llama hidden states
                pooled_embeds=_randn(g, B, 32), return_dict=False)


# --- HunyuanDiT -------------------------------------------------------------------------------------------------

def make_hunyuan_dit(use_style_cond_and_image_meta_size: bool = True):
    from diffusers import HunyuanDiT2DModel

    torch.manual_seed(0)
    # in_channels/patch_size default to None: 4 and 2 as released. 4 layers: the fewest with a long skip.
    return _eval(HunyuanDiT2DModel(num_attention_heads=2, attention_head_dim=16, in_channels=4, patch_size=2,
                                   sample_size=8, hidden_size=32, num_layers=4, cross_attention_dim=32,
                                   cross_attention_dim_t5=32, pooled_projection_dim=16, text_len=4, text_len_t5=6,
                                   use_style_cond_and_image_meta_size=use_style_cond_and_image_meta_size))


def make_hunyuan_dit_v12():
    return make_hunyuan_dit(use_style_cond_and_image_meta_size=False)


def hunyuan_dit_inputs(timestep: float, seed: int) -> dict:
    from diffusers.models.embeddings import get_2d_rotary_pos_embed
    from diffusers.pipelines.hunyuandit.pipeline_hunyuandit import get_resize_crop_region_for_grid

    g = _gen(seed)
    crops = get_resize_crop_region_for_grid((4, 4), 512 // 8 // 2)
    return dict(hidden_states=_randn(g, B, 4, 8, 8), timestep=torch.full((B,), float(timestep)),
                encoder_hidden_states=_randn(g, B, 4, 32), text_embedding_mask=_mask([2, 3], 4),
                encoder_hidden_states_t5=_randn(g, B, 6, 32), text_embedding_mask_t5=_mask([2, 4], 6),
                image_meta_size=torch.tensor([[64.0, 64.0, 64.0, 64.0, 0.0, 0.0]] * B),
                style=torch.zeros(B, dtype=torch.long),
                image_rotary_emb=get_2d_rotary_pos_embed(16, crops, (4, 4), output_type="pt"),
                return_dict=False)


# --- HunyuanImage 2.1 -------------------------------------------------------------------------------------------

def make_hunyuan_image():
    from diffusers import HunyuanImageTransformer2DModel

    torch.manual_seed(0)
    return _eval(HunyuanImageTransformer2DModel(num_attention_heads=2, attention_head_dim=16, num_layers=2,
                                                num_single_layers=2, text_embed_dim=32, rope_axes_dim=(8, 8)))


def make_hunyuan_image_distilled():
    from diffusers import HunyuanImageTransformer2DModel

    torch.manual_seed(0)
    # HunyuanImage-2.1-Distilled: ByT5 glyph embedder (text_embed_2_dim=1472), guidance and meanflow embeddings
    return _eval(HunyuanImageTransformer2DModel(num_attention_heads=2, attention_head_dim=16, num_layers=2,
                                                num_single_layers=2, text_embed_dim=32, rope_axes_dim=(8, 8),
                                                text_embed_2_dim=24, guidance_embeds=True, use_meanflow=True))


def hunyuan_image_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    # one guider batch (cond); ByT5 glyph embeds are zeros with an all-zero mask when the prompt has no quoted text
    return dict(hidden_states=_randn(g, B, 64, 4, 4), timestep=torch.full((B,), float(timestep)),
                timestep_r=None, guidance=None, return_dict=False,
                encoder_hidden_states=_randn(g, B, 8, 32), encoder_attention_mask=_mask([5, 8], 8),
                encoder_hidden_states_2=torch.zeros(B, 6, 24), encoder_attention_mask_2=torch.zeros(B, 6).long())


def hunyuan_image_distilled_inputs(timestep: float, seed: int) -> dict:
    inputs = hunyuan_image_inputs(timestep, seed)
    g = _gen(seed + 1)
    inputs.update(timestep_r=torch.full((B,), max(float(timestep) - 125.0, 0.0)),  # next of 8 steps
                  guidance=torch.full((B,), 3250.0),  # distilled_guidance_scale * 1000
                  encoder_hidden_states_2=_randn(g, B, 6, 24), encoder_attention_mask_2=_mask([3, 4], 6))
    return inputs


# --- HunyuanVideo 1.5 -------------------------------------------------------------------------------------------

def make_hunyuan_video15():
    from diffusers import HunyuanVideo15Transformer3DModel

    torch.manual_seed(0)
    return _eval(HunyuanVideo15Transformer3DModel(num_attention_heads=2, attention_head_dim=16, num_layers=2,
                                                  text_embed_dim=32, text_embed_2_dim=24, image_embed_dim=24,
                                                  rope_axes_dim=(4, 6, 6)))


def hunyuan_video15_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    latents = _randn(g, B, 32, 3, 4, 4)
    # text-to-video: zero condition latents and mask, zero image embeds (729 SigLIP tokens, cut to 9)
    return dict(hidden_states=torch.cat([latents, torch.zeros(B, 32, 3, 4, 4), torch.zeros(B, 1, 3, 4, 4)], 1),
                image_embeds=torch.zeros(B, 9, 24), timestep=torch.full((B,), float(timestep)), return_dict=False,
                encoder_hidden_states=_randn(g, B, 8, 32), encoder_attention_mask=_mask([5, 8], 8).float(),
                encoder_hidden_states_2=torch.zeros(B, 6, 24), encoder_attention_mask_2=torch.zeros(B, 6))


def hunyuan_video15_i2v_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    latents = _randn(g, B, 32, 3, 4, 4)
    cond = torch.zeros(B, 32, 3, 4, 4)
    cond[:, :, 0] = _randn(g, 1, 32, 4, 4)  # the image latent in frame 0
    mask = torch.zeros(B, 1, 3, 4, 4)
    mask[:, :, 0] = 1.0
    return dict(hidden_states=torch.cat([latents, cond, mask], 1),
                image_embeds=_randn(g, 1, 9, 24).repeat(B, 1, 1), timestep=torch.full((B,), float(timestep)),
                timestep_r=None, return_dict=False,
                encoder_hidden_states=_randn(g, B, 8, 32), encoder_attention_mask=_mask([5, 8], 8).float(),
                encoder_hidden_states_2=torch.zeros(B, 6, 24), encoder_attention_mask_2=torch.zeros(B, 6))


# --- HunyuanVideo FramePack -------------------------------------------------------------------------------------

def make_framepack():
    from diffusers import HunyuanVideoFramepackTransformer3DModel

    torch.manual_seed(0)
    # has_image_proj / has_clean_x_embedder default to False, and forward then calls None: lllyasviel/FramePackI2V_HY
    # sets both True.
    return _eval(HunyuanVideoFramepackTransformer3DModel(num_attention_heads=2, attention_head_dim=16, num_layers=2,
                                                         num_single_layers=2, text_embed_dim=32,
                                                         pooled_projection_dim=16, rope_axes_dim=(4, 6, 6),
                                                         has_image_proj=True, image_proj_dim=24,
                                                         has_clean_x_embedder=True))


def framepack_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    # inverted anti-drifting sampling, first of two sections, a 3-frame window (default 9); 1-D frame indices
    window, history_sizes = 3, [1, 2, 16]
    padding = 1 * window
    idx = torch.arange(0, sum([1, padding, window, *history_sizes]))
    prefix, _, latents_idx, one_x, two_x, four_x = idx.split([1, padding, window, *history_sizes])
    return dict(hidden_states=_randn(g, B, 16, window, 8, 8), timestep=torch.full((B,), float(timestep)),
                encoder_hidden_states=_randn(g, B, 8, 32), encoder_attention_mask=_mask([5, 8], 8).float(),
                pooled_projections=_randn(g, B, 16), image_embeds=_randn(g, B, 6, 24),
                indices_latents=latents_idx, guidance=torch.full((B,), 10000.0),  # guidance_scale * 1000
                latents_clean=_randn(g, B, 16, 2, 8, 8), indices_latents_clean=torch.cat([prefix, one_x]),
                latents_history_2x=_randn(g, B, 16, 2, 8, 8), indices_latents_history_2x=two_x,
                latents_history_4x=_randn(g, B, 16, 16, 8, 8), indices_latents_history_4x=four_x,
                return_dict=False)


# --- HunyuanVideo -----------------------------------------------------------------------------------------------

def make_hunyuan_video():
    from diffusers import HunyuanVideoTransformer3DModel

    torch.manual_seed(0)
    return _eval(HunyuanVideoTransformer3DModel(num_attention_heads=2, attention_head_dim=16, num_layers=2,
                                                num_single_layers=2, text_embed_dim=32, pooled_projection_dim=16,
                                                rope_axes_dim=(4, 6, 6)))


def hunyuan_video_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=_randn(g, B, 16, 3, 8, 8), timestep=torch.full((B,), float(timestep)),
                encoder_hidden_states=_randn(g, B, 8, 32), encoder_attention_mask=_mask([5, 8], 8).float(),
                pooled_projections=_randn(g, B, 16), guidance=torch.full((B,), 6000.0),  # guidance_scale * 1000
                return_dict=False)


FLOW = (1000.0, 20.0)  # flow-match t in 0..1000 over 50 steps (sigmas 1 .. 0.02 before any shift)
FLOW_UNIT = (1.0, 0.02)  # the same passed as t / 1000

ENTRIES: list[Entry] = [
    Entry("DiTTransformer2DModel", make_dit, dit_inputs, (999.0, 0.0), "DiTPipeline", config="DiT-XL-2",
          notes=("out is 8 channels (learned sigma); the pipeline steps the first 4",)),
    Entry("EasyAnimateTransformer3DModel", make_easyanimate, easyanimate_inputs, FLOW, "EasyAnimatePipeline",
          config="EasyAnimateV5.1"),
    Entry("ErnieImageTransformer2DModel", make_ernie_image, ernie_image_inputs, FLOW, "ErnieImagePipeline",
          notes=("adaLN modulation and output layer are zero-initialised",)),
    Entry("Flux2Transformer2DModel", make_flux2, flux2_inputs, FLOW_UNIT, "Flux2Pipeline", config="FLUX.2-dev"),
    Entry("Flux2Transformer2DModel", make_flux2_klein, flux2_klein_inputs, FLOW_UNIT, "Flux2KleinPipeline",
          config="FLUX.2-klein (guidance_embeds=False)", name="Flux2Transformer2DModel[klein]"),
    Entry("Flux3Transformer2DModel", make_flux3, flux3_inputs, FLOW_UNIT, "Flux3ModularPipeline"),
    Entry("Flux3Transformer2DModel", make_flux3_distilled, flux3_distilled_inputs, (1.0, 0.0625),
          "Flux3DistilledModularPipeline", config="FLUX.3 distilled (flow_map=True)",
          name="Flux3Transformer2DModel[distilled]"),
    Entry("FluxTransformer2DModel", make_flux, flux_inputs, (1.0, 0.25), "FluxPipeline", config="FLUX.1-schnell"),
    Entry("FluxTransformer2DModel", make_flux_dev, flux_dev_inputs, FLOW_UNIT, "FluxPipeline",
          config="FLUX.1-dev (guidance_embeds=True)", name="FluxTransformer2DModel[dev]"),
    Entry("GlmImageTransformer2DModel", make_glm_image, glm_image_inputs, (999.0, 20.0), "GlmImagePipeline"),
    Entry("HeliosTransformer3DModel", make_helios, helios_inputs, (999.0, 20.0), "HeliosPipeline"),
    Entry("HiDreamImageTransformer2DModel", make_hidream, hidream_inputs, FLOW, "HiDreamImagePipeline",
          config="HiDream-I1"),
    Entry("HunyuanDiT2DModel", make_hunyuan_dit, hunyuan_dit_inputs, (999.0, 0.0), "HunyuanDiTPipeline",
          config="HunyuanDiT v1.1", notes=("out is 8 channels (learned sigma); the pipeline steps the first 4",)),
    Entry("HunyuanDiT2DModel", make_hunyuan_dit_v12, hunyuan_dit_inputs, (999.0, 0.0), "HunyuanDiTPipeline",
          config="HunyuanDiT v1.2 (use_style_cond_and_image_meta_size=False)", name="HunyuanDiT2DModel[v1.2]"),
    Entry("HunyuanImageTransformer2DModel", make_hunyuan_image, hunyuan_image_inputs, FLOW,
          "HunyuanImagePipeline"),
    Entry("HunyuanImageTransformer2DModel", make_hunyuan_image_distilled, hunyuan_image_distilled_inputs,
          (1000.0, 125.0), "HunyuanImagePipeline", config="HunyuanImage-2.1-Distilled",
          name="HunyuanImageTransformer2DModel[distilled]"),
    Entry("HunyuanVideo15Transformer3DModel", make_hunyuan_video15, hunyuan_video15_inputs, FLOW,
          "HunyuanVideo15Pipeline"),
    Entry("HunyuanVideo15Transformer3DModel", make_hunyuan_video15, hunyuan_video15_i2v_inputs, FLOW,
          "HunyuanVideo15ImageToVideoPipeline", name="HunyuanVideo15Transformer3DModel[i2v]"),
    Entry("HunyuanVideoFramepackTransformer3DModel", make_framepack, framepack_inputs, FLOW,
          "HunyuanVideoFramepackPipeline", config="FramePackI2V_HY"),
    Entry("HunyuanVideoTransformer3DModel", make_hunyuan_video, hunyuan_video_inputs, FLOW, "HunyuanVideoPipeline"),
]

EXCLUDED: dict[str, str] = {
    "DreamLiteTransformer2DModel": "a sub-block of DreamLiteUNet2DConditionModel; DreamLitePipeline drives the UNet",
    "DualTransformer2DModel": "a UNet sub-block swapped into VersatileDiffusionDualGuidedPipeline's image UNet",
}
