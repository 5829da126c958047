"""Coverage zoo, part C: Ideogram4 .. MiniMaxH3 (diffusers 0.42.1 `diffusers.models.transformers`).

Every model keeps its class defaults except sizes (layers, heads, head dim, widths, embedding dims, sample sizes,
frames, sequence lengths). Every `inputs` follows the forward call in the class's pipeline at one denoising step.
"""
from __future__ import annotations

import torch

from tests.coverage_zoo import Entry
from tests.coverage_zoo.common import build as _build, gen as _gen


def _lengths_mask(length: int, real: list[int], left: bool = False) -> torch.Tensor:
    """A (len(real), length) 0/1 mask with real[i] ones, right-padded (or left-padded)."""
    pos = torch.arange(length)[None, :]
    real_t = torch.tensor(real)[:, None]
    return (pos >= length - real_t if left else pos < real_t).long()


def _flux_ids(height: int, width: int) -> torch.Tensor:
    ids = torch.zeros(height, width, 3)
    ids[..., 1] = torch.arange(height)[:, None]
    ids[..., 2] = torch.arange(width)[None, :]
    return ids.reshape(-1, 3)


# --- Ideogram4Transformer2DModel (Ideogram4Pipeline: a conditional and an unconditional transformer, no CFG batch) ---
IDEOGRAM4 = dict(num_layers=2, attention_head_dim=16, num_attention_heads=2, intermediate_size=64, adaln_dim=32,
                 llm_features_dim=48, mrope_section=(2, 1, 1))  # (24, 20, 20) of 128 freqs -> half of 8 freqs
IDEOGRAM4_TEXT, IDEOGRAM4_GRID = 8, 4  # max_sequence_length, image grid side (latent 8x8, patch 2)


def make_ideogram4():
    return _build("Ideogram4Transformer2DModel", **IDEOGRAM4)


def _ideogram4_layout(seed: int):
    from diffusers.pipelines.ideogram4.pipeline_ideogram4 import Ideogram4Pipeline

    g = _gen(seed)
    batch, text, image, dim = 2, IDEOGRAM4_TEXT, IDEOGRAM4_GRID**2, IDEOGRAM4["llm_features_dim"]
    position_ids, segment_ids, indicator = Ideogram4Pipeline._prepare_ids([5, 8], IDEOGRAM4_GRID, IDEOGRAM4_GRID,
                                                                          text, torch.device("cpu"))
    # left-padded text features, zero on padding and on the image region
    features = torch.randn(batch, text, dim, generator=g) * _lengths_mask(text, [5, 8], left=True)[..., None]
    llm_features = torch.cat([features, torch.zeros(batch, image, dim)], dim=1)
    latents = torch.randn(batch, image, 128, generator=g)
    return latents, llm_features, position_ids, segment_ids, indicator


def ideogram4_inputs(timestep: float, seed: int) -> dict:
    latents, llm_features, position_ids, segment_ids, indicator = _ideogram4_layout(seed)
    pos_z = torch.cat([torch.zeros(2, IDEOGRAM4_TEXT, 128), latents], dim=1)
    return dict(hidden_states=pos_z, timestep=torch.full((2,), timestep), encoder_hidden_states=llm_features,
                position_ids=position_ids, segment_ids=segment_ids, indicator=indicator, attention_kwargs=None,
                return_dict=False)


def ideogram4_uncond_inputs(timestep: float, seed: int) -> dict:
    latents, llm_features, position_ids, segment_ids, indicator = _ideogram4_layout(seed)
    t = IDEOGRAM4_TEXT
    return dict(hidden_states=latents, timestep=torch.full((2,), timestep),
                encoder_hidden_states=torch.zeros(2, latents.shape[1], llm_features.shape[-1]),
                position_ids=position_ids[:, t:], segment_ids=segment_ids[:, t:], indicator=indicator[:, t:],
                attention_kwargs=None, return_dict=False)


# --- JoyImageEditTransformer3DModel (JoyImageEditPipeline: cond and uncond are separate calls) ------------------------
JOYIMAGE = dict(hidden_size=32, num_attention_heads=2, text_dim=32, num_layers=2, rope_dim_list=[4, 6, 6])


def make_joyimage_edit():
    return _build("JoyImageEditTransformer3DModel", **JOYIMAGE)


def joyimage_edit_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    # (B, num_items, C, T, H, W): [reference image latents, noise]
    latents = torch.randn(2, 2, 16, 1, 8, 8, generator=g)
    return dict(hidden_states=latents, timestep=torch.full((2,), timestep),
                encoder_hidden_states=torch.randn(2, 6, 32, generator=g), return_dict=False)


# --- JoyImageEditPlusTransformer3DModel (JoyImageEditPlusPipeline: CFG batch [negative, positive]) --------------------
def make_joyimage_edit_plus():
    return _build("JoyImageEditPlusTransformer3DModel", **JOYIMAGE)


def joyimage_edit_plus_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)

    def patches(c, t, h, w):  # prepare_latents: one item -> (t/1 * h/2 * w/2, C, 1, 2, 2)
        item = torch.randn(c, t, h, w, generator=g)
        return item.reshape(c, t, 1, h // 2, 2, w // 2, 2).permute(1, 3, 5, 0, 2, 4, 6).reshape(-1, c, 1, 2, 2)

    # target noise 8x8 latent + one reference image of 8x12 latent
    latents = torch.cat([patches(16, 1, 8, 8), patches(16, 1, 8, 12)])[None]
    shape_list = [[(1, 4, 4), (1, 4, 6)]]
    neg, pos = torch.randn(1, 4, 32, generator=g), torch.randn(1, 7, 32, generator=g)
    prompt_embeds = torch.cat([torch.cat([neg, torch.zeros(1, 3, 32)], dim=1), pos])
    mask = torch.cat([_lengths_mask(7, [4]), _lengths_mask(7, [7])])
    return dict(hidden_states=torch.cat([latents] * 2), timestep=torch.full((2,), timestep),
                encoder_hidden_states=prompt_embeds, encoder_hidden_states_mask=mask, shape_list=shape_list * 2,
                return_dict=False)


# --- Kandinsky5Transformer3DModel (Kandinsky5T2VPipeline / I2V: cond and uncond are separate calls) -------------------
KANDINSKY5 = dict(in_text_dim=32, in_text_dim2=16, time_dim=32, model_dim=32, ff_dim=64, num_text_blocks=2,
                  num_visual_blocks=2, axes_dims=(4, 6, 6))


def make_kandinsky5():
    return _build("Kandinsky5Transformer3DModel", **KANDINSKY5)


def make_kandinsky5_i2v():
    return _build("Kandinsky5Transformer3DModel", **KANDINSKY5, in_visual_dim=16, out_visual_dim=16,
                  visual_cond=True)


def _kandinsky5_common(g: torch.Generator, timestep: float) -> dict:
    return dict(encoder_hidden_states=torch.randn(2, 6, 32, generator=g),
                pooled_projections=torch.randn(2, 16, generator=g), timestep=torch.full((2,), timestep),
                visual_rope_pos=[torch.arange(3), torch.arange(4), torch.arange(4)], text_rope_pos=torch.arange(6),
                scale_factor=(1, 2, 2),  # _get_scale_factor at the default 512x768
                sparse_params=None, return_dict=True)


def kandinsky5_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    latents = torch.randn(2, 3, 8, 8, 4, generator=g)  # (B, F, H, W, C)
    return dict(hidden_states=latents, **_kandinsky5_common(g, timestep))


def kandinsky5_i2v_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    latents = torch.randn(2, 3, 8, 8, 16, generator=g)  # first frame replaced by the image latents
    mask = torch.zeros(2, 3, 8, 8, 1)
    mask[:, 0:1] = 1
    hidden = torch.cat([latents, torch.zeros_like(latents), mask], dim=-1)
    return dict(hidden_states=hidden, **_kandinsky5_common(g, timestep))


# --- Kandinsky6Transformer3DModel (Kandinsky6TI2VAPipeline: video + audio, cond and uncond are separate calls) --------
KANDINSKY6 = dict(in_text_dim=32, in_text_dim2=16, time_dim=32, model_dim=32, ff_dim=64, num_text_blocks=2,
                  num_visual_blocks=2, axes_dims=(4, 6, 6))
# the class docstring: released checkpoints set these four True; token types tag the appended reference frame
KANDINSKY6_RELEASED = dict(text_token_padding=True, ca_rope=True, cross_gates=True, fix_modulation=True,
                           visual_token_type_num_embeddings=2)


def make_kandinsky6():
    return _build("Kandinsky6Transformer3DModel", **KANDINSKY6)


def make_kandinsky6_released():
    return _build("Kandinsky6Transformer3DModel", **KANDINSKY6, **KANDINSKY6_RELEASED)


def kandinsky6_inputs(timestep: float, seed: int) -> dict:
    # text-to-video+audio, one prompt x 2 videos: the prompt is unpadded so the mask is None
    g = _gen(seed)
    latents = torch.randn(2, 3, 8, 8, 16, generator=g)
    hidden = torch.cat([latents, torch.zeros_like(latents), torch.zeros(2, 3, 8, 8, 1)], dim=-1)
    text = torch.randn(1, 6, 32, generator=g).repeat(2, 1, 1)
    pooled = torch.randn(1, 16, generator=g).repeat(2, 1)
    return dict(hidden_states=hidden, audio_hidden_states=torch.randn(2, 6, 20, generator=g),
                encoder_hidden_states=text, pooled_projections=pooled, timestep=torch.full((2,), timestep),
                visual_rope_pos=None, encoder_attention_mask=None, visual_token_type_ids=None, return_dict=False)


def kandinsky6_released_inputs(timestep: float, seed: int) -> dict:
    # image-to-video+audio, two prompts of different lengths: the reference frame is appended as a tail frame
    g = _gen(seed)
    frames = 3
    latents = torch.randn(2, frames, 8, 8, 16, generator=g)
    first_frame = torch.randn(2, 8, 8, 16, generator=g)
    latents = torch.cat([latents, first_frame[:, None]], dim=1)
    cond_mask = torch.zeros(2, frames + 1, 8, 8, 1)
    cond_mask[:, -1] = 1
    hidden = torch.cat([latents, torch.zeros_like(latents), cond_mask], dim=-1)
    token_types = torch.zeros(2, frames + 1, dtype=torch.long)
    token_types[:, -1] = 1
    rope_pos = (torch.cat([torch.arange(frames), torch.zeros(1, dtype=torch.long)]), torch.arange(4), torch.arange(4))
    return dict(hidden_states=hidden, audio_hidden_states=torch.randn(2, 6, 20, generator=g),
                encoder_hidden_states=torch.randn(2, 6, 32, generator=g),
                pooled_projections=torch.randn(2, 16, generator=g), timestep=torch.full((2,), timestep),
                visual_rope_pos=rope_pos, encoder_attention_mask=_lengths_mask(6, [4, 6]).bool(),
                visual_token_type_ids=token_types, return_dict=False)


# --- Kandinsky6SRTransformer3DModel (Kandinsky6SRPipeline: text-free, a batch of latent tiles) ------------------------
KANDINSKY6_SR = dict(time_dim=32, model_dim=32, ff_dim=64, num_visual_blocks=2, axes_dims=(4, 6, 6))


def make_kandinsky6_sr():
    return _build("Kandinsky6SRTransformer3DModel", **KANDINSKY6_SR)


def kandinsky6_sr_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    latents = torch.randn(2, 2, 8, 8, 64, generator=g)  # NABLA needs the token grid divisible by 8
    hidden = torch.cat([latents, torch.zeros_like(latents), torch.zeros(2, 2, 8, 8, 1)], dim=-1)
    return dict(hidden_states=hidden, timestep=torch.full((2,), timestep), return_dict=False)


# --- Krea2Transformer2DModel (Krea2Pipeline: cond and uncond are separate calls) --------------------------------------
KREA2 = dict(num_layers=2, attention_head_dim=16, num_attention_heads=2, num_key_value_heads=1, intermediate_size=64,
             text_hidden_dim=32, num_text_layers=3, text_num_attention_heads=2, text_num_key_value_heads=2,
             text_intermediate_size=64, axes_dims_rope=(4, 6, 6))


def make_krea2():
    return _build("Krea2Transformer2DModel", **KREA2)


def krea2_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    text, side = 8, 4
    # the template pads in the middle: [prompt | PAD | 2 suffix tokens]
    mask = torch.ones(2, text, dtype=torch.bool)
    mask[0, 4:6] = False
    position_ids = torch.cat([torch.zeros(text, 3), _flux_ids(side, side)])
    return dict(hidden_states=torch.randn(2, side * side, 64, generator=g),
                encoder_hidden_states=torch.randn(2, text, 3, 32, generator=g), timestep=torch.full((2,), timestep),
                position_ids=position_ids, encoder_attention_mask=mask, attention_kwargs=None, return_dict=False)


# --- LTX2VideoTransformer3DModel (LTX2Pipeline: audio + video, CFG batch [negative, positive]) ------------------------
LTX2 = dict(num_attention_heads=2, attention_head_dim=16, cross_attention_dim=32, audio_num_attention_heads=2,
            audio_attention_head_dim=8, audio_cross_attention_dim=16, num_layers=2, caption_channels=32)


def make_ltx2():
    return _build("LTX2VideoTransformer3DModel", **LTX2)


def ltx2_inputs(timestep: float, seed: int) -> dict:
    from diffusers.models.transformers.transformer_ltx2 import LTX2AudioVideoRotaryPosEmbed

    g = _gen(seed)
    frames, height, width, audio_frames, fps = 3, 4, 4, 18, 24.0  # 17 pixel frames -> round(17/24 * 25) audio
    # rope coords as transformer.rope / transformer.audio_rope prepare them (defaults of the class)
    video_coords = LTX2AudioVideoRotaryPosEmbed(dim=32).prepare_video_coords(1, frames, height, width, "cpu", fps=fps)
    audio_coords = LTX2AudioVideoRotaryPosEmbed(dim=16, scale_factors=[4], modality="audio").prepare_audio_coords(
        1, audio_frames, "cpu")
    latents = torch.randn(1, frames * height * width, 128, generator=g)
    audio = torch.randn(1, audio_frames, 128, generator=g)  # 8 channels x 16 latent mel bins
    t = torch.full((2,), timestep)
    # connectors: [negative, positive]; the learnable registers make the connector mask all ones
    return dict(hidden_states=latents.repeat(2, 1, 1), audio_hidden_states=audio.repeat(2, 1, 1),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                audio_encoder_hidden_states=torch.randn(2, 8, 32, generator=g), timestep=t, sigma=t,
                encoder_attention_mask=torch.ones(2, 8, dtype=torch.long),
                audio_encoder_attention_mask=torch.ones(2, 8, dtype=torch.long), num_frames=frames, height=height,
                width=width, fps=fps, audio_num_frames=audio_frames, video_coords=video_coords.repeat(2, 1, 1, 1),
                audio_coords=audio_coords.repeat(2, 1, 1, 1), isolate_modalities=False,
                spatio_temporal_guidance_blocks=None, perturbation_mask=None, use_cross_timestep=True,
                attention_kwargs=None, return_dict=False)


# --- LTXVideoTransformer3DModel (LTXPipeline: CFG batch [negative, positive]) -----------------------------------------
LTX = dict(num_attention_heads=2, attention_head_dim=16, cross_attention_dim=32, num_layers=2, caption_channels=32)


def make_ltx():
    return _build("LTXVideoTransformer3DModel", **LTX)


def ltx_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    latents = torch.randn(1, 3 * 4 * 4, 128, generator=g)
    return dict(hidden_states=latents.repeat(2, 1, 1), encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                timestep=torch.full((2,), timestep), encoder_attention_mask=_lengths_mask(8, [3, 6]).bool(),
                num_frames=3, height=4, width=4, rope_interpolation_scale=(8 / 25, 32, 32), attention_kwargs=None,
                return_dict=False)


# --- LatteTransformer3DModel (LattePipeline: CFG batch [negative, positive]) ------------------------------------------
# The class defaults leave in_channels, patch_size and caption_channels None (it cannot be built from them), so this
# shrinks the released Latte-1 transformer config (maxin-cn/Latte-1).
LATTE = dict(num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=8, num_layers=2,
             cross_attention_dim=32, attention_bias=True, sample_size=8, patch_size=2,
             activation_fn="gelu-approximate", num_embeds_ada_norm=1000, norm_type="ada_norm_single",
             norm_elementwise_affine=False, norm_eps=1e-6, caption_channels=32, video_length=3)


def make_latte():
    return _build("LatteTransformer3DModel", **LATTE)


def latte_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    latents = torch.randn(1, 4, 3, 8, 8, generator=g)
    # mask_feature=True: embeddings truncated to the prompt's real tokens; no mask is passed
    return dict(hidden_states=latents.repeat(2, 1, 1, 1, 1), encoder_hidden_states=torch.randn(2, 6, 32, generator=g),
                timestep=torch.full((2,), int(timestep), dtype=torch.long), enable_temporal_attentions=True,
                return_dict=False)


# --- LongCatAudioDiTTransformer (LongCatAudioDiTPipeline: cond and uncond are separate calls) -------------------------
LONGCAT_AUDIO = dict(dit_dim=32, dit_depth=2, dit_heads=2, dit_text_dim=32)


def make_longcat_audio_dit():
    return _build("LongCatAudioDiTTransformer", **LONGCAT_AUDIO)


def longcat_audio_dit_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    duration = 12
    return dict(hidden_states=torch.randn(2, duration, 64, generator=g),
                encoder_hidden_states=torch.randn(2, 6, 32, generator=g),
                encoder_attention_mask=_lengths_mask(6, [4, 6]).bool(), timestep=torch.full((2,), timestep),
                attention_mask=torch.ones(2, duration, dtype=torch.bool), latent_cond=torch.zeros(2, duration, 64))


# --- LongCatImageTransformer2DModel (LongCatImagePipeline / LongCatImageEditPipeline: separate cond/uncond calls) ----
LONGCAT_IMAGE = dict(num_layers=2, num_single_layers=2, attention_head_dim=16, num_attention_heads=2,
                     joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 6, 6])


def make_longcat_image():
    return _build("LongCatImageTransformer2DModel", **LONGCAT_IMAGE)


def _longcat_pos_ids(modality: int, start: int, side: int) -> torch.Tensor:
    from diffusers.pipelines.longcat_image.pipeline_longcat_image import prepare_pos_ids

    return prepare_pos_ids(modality_id=modality, type="image", start=(start, start), height=side, width=side)


def longcat_image_inputs(timestep: float, seed: int) -> dict:
    from diffusers.pipelines.longcat_image.pipeline_longcat_image import prepare_pos_ids

    g = _gen(seed)
    text = 8
    return dict(hidden_states=torch.randn(2, 16, 64, generator=g), timestep=torch.full((2,), timestep), guidance=None,
                encoder_hidden_states=torch.randn(2, text, 32, generator=g),
                txt_ids=prepare_pos_ids(modality_id=0, type="text", start=(0, 0), num_token=text),
                img_ids=_longcat_pos_ids(1, 512, 4),  # image ids start at tokenizer_max_length
                return_dict=False)


def longcat_image_edit_inputs(timestep: float, seed: int) -> dict:
    from diffusers.pipelines.longcat_image.pipeline_longcat_image import prepare_pos_ids

    g = _gen(seed)
    text = 8
    latents, image_latents = torch.randn(2, 16, 64, generator=g), torch.randn(2, 16, 64, generator=g)
    # the pipeline builds the reference ids in float64, so the concatenated ids are float64
    img_ids = torch.cat([_longcat_pos_ids(1, text, 4), _longcat_pos_ids(2, text, 4).double()])
    return dict(hidden_states=torch.cat([latents, image_latents], dim=1), timestep=torch.full((2,), timestep),
                guidance=None, encoder_hidden_states=torch.randn(2, text, 32, generator=g),
                txt_ids=prepare_pos_ids(modality_id=0, type="text", start=(0, 0), num_token=text), img_ids=img_ids,
                return_dict=False)


# --- Lumina2Transformer2DModel (Lumina2Pipeline: cond and uncond are separate calls) ----------------------------------
LUMINA2 = dict(sample_size=8, hidden_size=32, num_layers=2, num_refiner_layers=2, num_attention_heads=2,
               num_kv_heads=1, multiple_of=16, axes_dim_rope=(4, 6, 6), cap_feat_dim=32)


def make_lumina2():
    return _build("Lumina2Transformer2DModel", **LUMINA2)


def lumina2_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    # two prompts of different lengths: Gemma right-pads to max_sequence_length
    return dict(hidden_states=torch.randn(2, 16, 8, 8, generator=g), timestep=torch.full((2,), timestep),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                encoder_attention_mask=_lengths_mask(8, [5, 8]), return_dict=False, attention_kwargs=None)


# --- LuminaNextDiT2DModel (LuminaPipeline: CFG batch [positive, negative]) --------------------------------------------
# num_kv_heads defaults to None, which the attention cannot be built with (TypeError in Attention.__init__); the
# released Lumina-Next-SFT sets 8 kv heads for 32 heads, kept here as grouped-query attention.
LUMINA_NEXT = dict(sample_size=8, hidden_size=32, num_layers=2, num_attention_heads=2, num_kv_heads=1, multiple_of=16,
                   cross_attention_dim=32)


def make_lumina_next():
    return _build("LuminaNextDiT2DModel", **LUMINA_NEXT)


def lumina_next_inputs(timestep: float, seed: int) -> dict:
    from diffusers.models.embeddings import get_2d_rotary_pos_embed_lumina

    g = _gen(seed)
    latents = torch.randn(1, 4, 8, 8, generator=g)
    # at the default resolution scaling_factor is 1, so the time-aware rope is the same on both sides of the watershed
    rope = get_2d_rotary_pos_embed_lumina(LUMINA_NEXT["hidden_size"] // 2, 384, 384, linear_factor=1.0, ntk_factor=1.0)
    return dict(hidden_states=latents.repeat(2, 1, 1, 1), timestep=torch.full((2,), timestep),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g), encoder_mask=_lengths_mask(8, [6, 3]),
                image_rotary_emb=rope, cross_attention_kwargs={"base_sequence_length": (1024 // 16) ** 2},
                return_dict=False)


# --- MiniMaxH3Transformer3DModel (MiniMaxH3ModularPipeline, t2va: one packed sequence, batch 1, no guidance) ----------
MINIMAX_H3 = dict(num_attention_heads=2, attention_head_dim=16, hidden_size=32, num_layers=2, ffn_dim=64, text_dim=32,
                  time_embed_hidden_dim=32, time_embed_dim=16, rope_freq_dim=2)  # 2*3*16 of 128 -> 2*3*2 of 16 rotated


def make_minimax_h3():
    return _build("MiniMaxH3Transformer3DModel", **MINIMAX_H3)


def minimax_h3_inputs(timestep: float, seed: int) -> dict:
    from diffusers.modular_pipelines.minimax_h3.before_denoise import (
        MiniMaxH3PrepareLayoutStep,
        MiniMaxH3SetTimestepsStep,
    )

    g = _gen(seed)
    text, frames, latent_side, audio_latents = 6, 2, 4, 3
    position_ids, token_tags, video_idx, audio_idx, text_idx, _, _ = MiniMaxH3PrepareLayoutStep.build_packed_sequence(
        torch.ones(text, dtype=torch.long), frames, latent_side, latent_side, audio_latents, (1, 2, 2),
        audio_channels=2, audio_tag=2, video_tag=0)
    # the audio schedule (shift 3) at the grid point where the video schedule (shift 12) reads `timestep`
    sigma = 1.0 - timestep
    base = sigma / (12.0 - 11.0 * sigma)
    audio_t = 1.0 - 3.0 * base / (1.0 + 2.0 * base)
    unique_t, t_idx = MiniMaxH3SetTimestepsStep.build_row_timesteps(video_idx, audio_idx, 0, 0, text, timestep,
                                                                        audio_t, timestep, 1.0)
    return dict(hidden_states=torch.randn(1, video_idx.numel(), 96, generator=g),
                audio_hidden_states=torch.randn(1, audio_idx.numel(), 32, generator=g),
                encoder_hidden_states=torch.randn(1, text, 32, generator=g), timestep=unique_t,
                timestep_indices=t_idx, token_tags=token_tags, position_ids=position_ids, video_indices=video_idx,
                audio_indices=audio_idx, text_indices=text_idx, attention_kwargs=None, return_dict=False)


ENTRIES: list[Entry] = [
    Entry("Ideogram4Transformer2DModel", make_ideogram4, ideogram4_inputs, (1.2e-4, 0.84), "Ideogram4Pipeline",
          notes=("timestep is model time 1 - t/1000 (0 = noise); out[0] covers [text | image], the pipeline keeps "
                 "the image rows",)),
    Entry("Ideogram4Transformer2DModel", make_ideogram4, ideogram4_uncond_inputs, (1.2e-4, 0.84), "Ideogram4Pipeline",
          config="unconditional_transformer", name="Ideogram4Transformer2DModel-uncond",
          notes=("the pipeline's second transformer: image rows only, zero text features",)),
    Entry("JoyImageEditTransformer3DModel", make_joyimage_edit, joyimage_edit_inputs, (1000.0, 1.0),
          "JoyImageEditPipeline"),
    Entry("JoyImageEditPlusTransformer3DModel", make_joyimage_edit_plus, joyimage_edit_plus_inputs, (1000.0, 1.0),
          "JoyImageEditPlusPipeline"),
    Entry("Kandinsky5Transformer3DModel", make_kandinsky5, kandinsky5_inputs, (1000.0, 1.0), "Kandinsky5T2VPipeline"),
    Entry("Kandinsky5Transformer3DModel", make_kandinsky5_i2v, kandinsky5_i2v_inputs, (1000.0, 1.0),
          "Kandinsky5I2VPipeline", config="Kandinsky 5.0 (visual_cond=True, 16 latent channels)",
          name="Kandinsky5Transformer3DModel-visual_cond",
          notes=("input is [latent | cond | mask] (33 channels), output is the 16-channel velocity",)),
    Entry("Kandinsky6Transformer3DModel", make_kandinsky6, kandinsky6_inputs, (1000.0, 1.0),
          "Kandinsky6TI2VAPipeline", notes=("returns (video, audio)",)),
    Entry("Kandinsky6Transformer3DModel", make_kandinsky6_released, kandinsky6_released_inputs, (1000.0, 1.0),
          "Kandinsky6TI2VAPipeline", config="released (ca_rope, cross_gates, fix_modulation, token types)",
          name="Kandinsky6Transformer3DModel-released",
          notes=("image-to-video+audio: reference frame appended as a tail frame, padded prompts",)),
    Entry("Kandinsky6SRTransformer3DModel", make_kandinsky6_sr, kandinsky6_sr_inputs, (1000.0, 454.5),
          "Kandinsky6SRPipeline",
          notes=("PiflowScheduler, 4 steps; output has out_visual_dim=640 (n_grid x 64) channels for the scheduler",)),
    Entry("Krea2Transformer2DModel", make_krea2, krea2_inputs, (1.0, 0.084), "Krea2Pipeline"),
    Entry("LTX2VideoTransformer3DModel", make_ltx2, ltx2_inputs, (1000.0, 100.0), "LTX2Pipeline",
          notes=("returns (video, audio)",)),
    Entry("LTXVideoTransformer3DModel", make_ltx, ltx_inputs, (1000.0, 100.0), "LTXPipeline"),
    Entry("LatteTransformer3DModel", make_latte, latte_inputs, (981.0, 1.0), "LattePipeline", config="Latte-1",
          notes=("learned sigma: 8 output channels, the pipeline keeps the first 4",)),
    Entry("LongCatAudioDiTTransformer", make_longcat_audio_dit, longcat_audio_dit_inputs, (1.0, 0.0625),
          "LongCatAudioDiTPipeline"),
    Entry("LongCatImageTransformer2DModel", make_longcat_image, longcat_image_inputs, (1.0, 0.0606),
          "LongCatImagePipeline"),
    Entry("LongCatImageTransformer2DModel", make_longcat_image, longcat_image_edit_inputs, (1.0, 0.0606),
          "LongCatImageEditPipeline", name="LongCatImageTransformer2DModel-edit",
          notes=("sequence is [noise | reference image]; the pipeline keeps the first half",)),
    Entry("Lumina2Transformer2DModel", make_lumina2, lumina2_inputs, (0.0, 0.9667), "Lumina2Pipeline"),
    Entry("LuminaNextDiT2DModel", make_lumina_next, lumina_next_inputs, (0.0, 0.999), "LuminaPipeline",
          config="Lumina-Next-SFT (num_kv_heads set)",
          notes=("learned sigma: 8 output channels, the pipeline keeps the first 4",)),
    Entry("MiniMaxH3Transformer3DModel", make_minimax_h3, minimax_h3_inputs, (0.0, 0.8), "MiniMaxH3ModularPipeline",
          notes=("batch 1: the pipeline passes latents[None]; one timestep value at t=0, two (video, audio) later",
                 "returns (video rows, audio rows)")),
]

EXCLUDED: dict[str, str] = {}
