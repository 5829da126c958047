"""Coverage zoo, part E: SanaVideo .. ZImage (diffusers 0.42.1 `diffusers.models.transformers`).

Every model keeps its class defaults except sizes (layers, heads, head dim, widths, embedding dims, sample sizes,
frames, sequence lengths). Every `inputs` follows the forward call in the class's pipeline at one denoising step.
"""
from __future__ import annotations

import functools

import torch

from tests.coverage_zoo import Entry
from tests.coverage_zoo.common import build as _build, gen as _gen


def _padded(batch: int, length: int, real: list[int]) -> torch.Tensor:
    """A (batch, length) 0/1 mask whose row i has real[i] leading ones (a tokenizer's right padding)."""
    return (torch.arange(length)[None, :] < torch.tensor(real)[:, None]).long()


def _t5_embeds(g: torch.Generator, real: list[int], length: int, dim: int) -> torch.Tensor:
    """UMT5 prompt embeddings as the Wan family builds them: cut at the prompt length, zero-padded to max length."""
    mask = _padded(len(real), length, real)
    return torch.randn(len(real), length, dim, generator=g) * mask[..., None]


# --- SanaVideoTransformer3DModel (SanaVideoPipeline: CFG batch [uncond, cond], DPM-Solver int timesteps) -------------
SANA_VIDEO = dict(num_attention_heads=2, attention_head_dim=16, num_layers=2, num_cross_attention_heads=2,
                  cross_attention_head_dim=16, cross_attention_dim=32, caption_channels=32, sample_size=8)


def make_sana_video():
    return _build("SanaVideoTransformer3DModel", **SANA_VIDEO)


def sana_video_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 16, 3, 8, 8, generator=g),
                encoder_hidden_states=torch.randn(2, 6, 32, generator=g),
                encoder_attention_mask=_padded(2, 6, [2, 5]),
                timestep=torch.tensor(int(timestep)).expand(2),
                return_dict=False)


# --- SanaWMLTX2RefinerTransformer3DModel (SanaWMLTX2Refiner, SANA-WM stage 2) -----------------------------------------
# A denoising step forwards one 3-frame AR block against a KV cache holding the attention sink (1 frame, pre-RoPE)
# and the refined history; the pipeline fills it with capture passes, here it holds random K/V of the same shapes.
SANA_WM_REFINER = dict(num_attention_heads=2, attention_head_dim=16, cross_attention_dim=32,
                       audio_num_attention_heads=2, audio_attention_head_dim=8, audio_cross_attention_dim=16,
                       num_layers=2, caption_channels=32)


def make_sana_wm_refiner():
    return _build("SanaWMLTX2RefinerTransformer3DModel", **SANA_WM_REFINER)


@functools.lru_cache(maxsize=None)
def _refiner_rope(frames: tuple[int, ...], height: int, width: int, batch: int):
    # RoPE comes from the model's parameter-free `rope` module (the pipeline calls the same method).
    with torch.random.fork_rng():
        model = make_sana_wm_refiner()
    return model.build_rotary_emb_for_absolute_positions(batch, list(frames), height, width, torch.device("cpu"), 16.0)


def sana_wm_refiner_inputs(timestep: float, seed: int) -> dict:
    from diffusers.models.transformers.transformer_sana_wm_refiner import SanaWMRefinerKVCache

    g = _gen(seed)
    batch, height, width, inner = 2, 4, 4, 32
    hw = height * width
    # second AR block (frames 4..6): sink = frame 0 re-placed at offset 0, history = frames 1..3
    cache = SanaWMRefinerKVCache(SANA_WM_REFINER["num_layers"])
    cache.sink_pe = _refiner_rope((0,), height, width, batch)
    for i in range(len(cache)):
        layer = cache.get(i)
        layer.store_sink(torch.randn(batch, hw, inner, generator=g), torch.randn(batch, hw, inner, generator=g))
        layer.store_history(torch.randn(batch, 3 * hw, inner, generator=g),
                            torch.randn(batch, 3 * hw, inner, generator=g))
    return dict(hidden_states=torch.randn(batch, 3 * hw, 128, generator=g),
                encoder_hidden_states=torch.randn(batch, 8, 32, generator=g),
                timestep=torch.full((batch, 3 * hw), timestep),
                video_rotary_emb=_refiner_rope((4, 5, 6), height, width, batch),
                encoder_attention_mask=torch.ones(batch, 8, dtype=torch.long),   # LTX-2 connectors: all registers
                kv_cache=cache, kv_cache_mode="inject", return_dict=False)


# --- SanaWMTransformer3DModel (SanaWMPipeline, SANA-WM stage 1: camera-controlled image-to-video) ---------------------
# softmax_every_n=4 makes every 4th block softmax attention, the rest gated-delta-net linear attention: 4 layers so
# both block kinds are in the model (2 would hold only GDN blocks).
SANA_WM = dict(num_layers=4, hidden_size=32, num_attention_heads=2, linear_head_dim=16,
               chunk_plucker_post_attn_blocks=4, caption_channels=32)


def make_sana_wm():
    return _build("SanaWMTransformer3DModel", **SANA_WM)


def sana_wm_inputs(timestep: float, seed: int) -> dict:
    import numpy as np
    from diffusers.pipelines.sana_wm.cam_utils import prepare_camera

    g = _gen(seed)
    frames, size = 17, 128                                   # 17 pixel frames, 128 px -> 3 x 4 x 4 latent (LTX-2 VAE)
    c2w = np.tile(np.eye(4, dtype=np.float32), (frames, 1, 1))
    c2w[:, 2, 3] = np.linspace(0.0, 0.5, frames)             # walk forward
    intrinsics = np.tile(np.array([100.0, 100.0, 64.0, 64.0], dtype=np.float32), (frames, 1))
    cam = prepare_camera(c2w, intrinsics, target_size=(size, size), vae_stride=(8, 32, 32))
    latents = torch.randn(1, 128, 3, 4, 4, generator=g)
    t = torch.full((2, 1, 3), float(timestep))
    t[:, :, 0] = 0.0                                         # the first latent frame is the clean conditioning anchor
    return dict(hidden_states=latents.repeat(2, 1, 1, 1, 1),
                timestep=t,
                encoder_hidden_states=torch.randn(2, 1, 6, 32, generator=g),
                return_dict=False,
                data_info={"img_hw": torch.tensor([[size, size]], dtype=torch.float)},
                mask=_padded(2, 6, [1, 6]),
                camera_conditions=cam["raymap"][None].repeat(2, 1, 1),
                chunk_plucker=cam["chunk_plucker"][None].repeat(2, 1, 1, 1, 1))


# --- SkyReelsV2Transformer3DModel (SkyReelsV2Pipeline: cond and uncond in separate calls, UniPC int timesteps) --------
SKYREELS_V2 = dict(num_attention_heads=2, attention_head_dim=16, text_dim=32, ffn_dim=64, num_layers=2)


def make_skyreels_v2():
    return _build("SkyReelsV2Transformer3DModel", **SKYREELS_V2)


def skyreels_v2_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 16, 3, 8, 8, generator=g),
                timestep=torch.tensor(int(timestep)).expand(2),
                encoder_hidden_states=_t5_embeds(g, [5, 8], 8, 32),
                return_dict=False)


# --- StableAudio3DiTModel (StableAudio3Pipeline: distilled, guidance_scale 1 so no CFG; t in [0, 1]) ------------------
STABLE_AUDIO_3 = dict(embed_dim=32, depth=2, num_heads=2, cond_token_dim=32, global_cond_dim=32)


def make_stable_audio_3():
    return _build("StableAudio3DiTModel", **STABLE_AUDIO_3)


def stable_audio_3_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    duration = torch.randn(2, 32, generator=g)               # StableAudio3DurationEmbedder output
    text = torch.randn(2, 6, 32, generator=g)
    return dict(hidden_states=torch.randn(2, 256, 8, generator=g),
                timestep=torch.tensor(timestep).expand(2),
                encoder_hidden_states=torch.cat([text, duration[:, None]], dim=1),   # + the duration token
                global_hidden_states=duration,
                encoder_attention_mask=torch.cat([_padded(2, 6, [3, 6]), torch.ones(2, 1, dtype=torch.long)], 1),
                return_dict=False)


# --- StableAudioDiTModel (StableAudioPipeline: CFG batch [zeros, cond], EDM timesteps 0.25 * log(sigma)) --------------
STABLE_AUDIO = dict(sample_size=8, num_layers=2, attention_head_dim=16, num_attention_heads=2,
                    num_key_value_attention_heads=1, cross_attention_dim=32, global_states_input_dim=64,
                    cross_attention_input_dim=32)


def make_stable_audio():
    return _build("StableAudioDiTModel", **STABLE_AUDIO)


def stable_audio_inputs(timestep: float, seed: int) -> dict:
    from diffusers.models.embeddings import get_1d_rotary_pos_embed

    g = _gen(seed)
    start, end = torch.randn(1, 1, 32, generator=g), torch.randn(1, 1, 32, generator=g)
    text = torch.cat([torch.randn(1, 6, 32, generator=g), start, end], dim=1)
    latents = torch.randn(1, 64, 8, generator=g)
    return dict(hidden_states=latents.repeat(2, 1, 1),
                timestep=torch.tensor(timestep).unsqueeze(0),
                encoder_hidden_states=torch.cat([torch.zeros_like(text), text]),
                global_hidden_states=torch.cat([start, end], dim=2).repeat(2, 1, 1),
                rotary_embedding=get_1d_rotary_pos_embed(16 // 2, 8 + 1, use_real=True, repeat_interleave_real=False),
                return_dict=False)


# --- T5FilmDecoder (SpectrogramDiffusionPipeline, deprecated: MIDI -> mel spectrogram, DDPM noise_time = t / 1000) ----
T5_FILM = dict(targets_length=8, d_model=32, num_layers=2, num_heads=2, d_kv=16, d_ff=64)


def make_t5_film():
    return _build("T5FilmDecoder", **T5_FILM)


def t5_film_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    # (notes encoder output, note-token mask), (continuous encoder output of the previous chunk, all-ones mask)
    notes = (torch.randn(2, 8, 32, generator=g), _padded(2, 8, [5, 8]).bool())
    context = (torch.randn(2, 8, 32, generator=g), torch.ones(2, 8, dtype=torch.bool))
    return dict(encodings_and_masks=[notes, context],
                decoder_input_tokens=torch.randn(2, 8, 128, generator=g),
                decoder_noise_time=torch.tensor(timestep).expand(2))


# --- Transformer2DModel (VQDiffusionPipeline, deprecated: discrete latent tokens, predicts log p(x_0)) ----------------
# The class defaults build nothing (no input kind is set); VQ-Diffusion's released config is the only one a pipeline
# drives step by step (continuous input is the UNet sub-block, DiT/PixArt configs load as their own classes).
VQ_DIFFUSION = dict(num_attention_heads=2, attention_head_dim=16, num_layers=2, cross_attention_dim=32,
                    sample_size=4, num_vector_embeds=65, activation_fn="geglu-approximate",
                    num_embeds_ada_norm=100, attention_bias=True, norm_type="ada_norm")


def make_vq_diffusion():
    return _build("Transformer2DModel", **VQ_DIFFUSION)


def vq_diffusion_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    text = torch.randn(2, 8, 32, generator=g)
    codes = torch.randint(0, 65, (1, 16), generator=g)       # codebook indices, 64 = the mask class
    return dict(hidden_states=codes.repeat(2, 1),
                encoder_hidden_states=text / text.norm(dim=-1, keepdim=True),   # CLIP embeds, normalised
                timestep=torch.tensor(int(timestep)))


# --- WanAnimate2Transformer3DModel (WanAnimate2ModularPipeline: one sample per call, reference K/V cached) ------------
WAN_ANIMATE_2 = dict(text_len=8, dim=32, ffn_dim=64, text_dim=32, num_heads=2, num_layers=2)


def make_wan_animate_2():
    return _build("WanAnimate2Transformer3DModel", **WAN_ANIMATE_2)


def wan_animate_2_inputs(timestep: float, seed: int) -> dict:
    from diffusers.models.transformers.transformer_wan_animate_2 import WanAnimate2KVCache

    g = _gen(seed)
    # segment of 5 pixel frames at 64 x 64: 2 latent frames of 8 x 8, + 1 frame for the reference image
    frames, h, w = 2, 8, 8
    cache = WanAnimate2KVCache(WAN_ANIMATE_2["num_layers"])
    ref_tokens = frames * (h // 2) * (w // 2)
    for i in range(WAN_ANIMATE_2["num_layers"]):   # the extract pass stores pre-RoPE reference K/V per layer
        cache.get(i).store(torch.randn(1, ref_tokens, 2, 16, generator=g),
                           torch.randn(1, ref_tokens, 2, 16, generator=g))
    mask = torch.zeros(1, 4, frames + 1, h, w)
    mask[:, :, 0] = 1.0                                      # reference image slot clean; no previous-segment frames
    reference = torch.cat([mask, torch.randn(1, 16, frames + 1, h, w, generator=g)], dim=1)[0]
    return dict(hidden_states=[torch.randn(16, frames + 1, h, w, generator=g)],
                timestep=torch.tensor([timestep]),
                encoder_hidden_states=[torch.randn(5, 32, generator=g)],
                condition_latents=[reference],
                kv_cache=cache, kv_cache_mode="cached",
                seq_len=(frames + 1) * (h // 2) * (w // 2),
                reference_grid_sizes=torch.tensor([[frames, h // 2, w // 2]]),
                origin_len=5, origin_area=[64, 64], is_uncondtion=False,
                encoder_hidden_states_image=torch.randn(1, 5, 1280, generator=g))


# --- WanAnimateTransformer3DModel (WanAnimatePipeline, animate mode, first segment) -----------------------------------
# inject_face_latents_blocks=5 puts a face adapter after blocks 0, 5, 10, ...: 4 layers with every 2nd keep blocks
# with and without an adapter (2 layers at 5 would index a face adapter that does not exist).
WAN_ANIMATE = dict(num_attention_heads=2, attention_head_dim=16, text_dim=32, ffn_dim=64, num_layers=4, image_dim=32,
                   motion_encoder_channel_sizes={"4": 32, "8": 32, "16": 16}, motion_encoder_size=16,
                   motion_style_dim=32, motion_encoder_dim=32, face_encoder_hidden_dim=32, face_encoder_num_heads=2,
                   inject_face_latents_blocks=2)


def make_wan_animate():
    return _build("WanAnimateTransformer3DModel", **WAN_ANIMATE)


def wan_animate_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    frames, h, w = 2, 8, 8                                   # segment_frame_length 5 -> 2 latent frames (+ reference)
    mask = torch.zeros(2, 4, frames + 1, h, w)
    mask[:, :, 0] = 1.0                                      # i2v mask: reference image clean, no previous segment
    reference = torch.cat([mask, torch.randn(1, 16, frames + 1, h, w, generator=g).repeat(2, 1, 1, 1, 1)], dim=1)
    latents = torch.randn(2, 16, frames + 1, h, w, generator=g)
    return dict(hidden_states=torch.cat([latents, reference], dim=1),
                timestep=torch.tensor(int(timestep)).expand(2),
                encoder_hidden_states=_t5_embeds(g, [5, 8], 8, 32),
                encoder_hidden_states_image=torch.randn(1, 5, 32, generator=g).repeat(2, 1, 1),
                pose_hidden_states=torch.randn(1, 16, frames, h, w, generator=g).repeat(2, 1, 1, 1, 1),
                face_pixel_values=(torch.rand(1, 3, 5, 16, 16, generator=g) * 2 - 1).repeat(2, 1, 1, 1, 1),
                motion_encode_batch_size=None,
                return_dict=False)


# --- WanTransformer3DModel (WanPipeline: cond and uncond in separate calls, UniPC int timesteps) ----------------------
# Wan 2.1 and Wan 2.2 A14B share the defaults' layout; Wan 2.2 TI2V-5B has 48 latent channels and the pipeline's
# expand_timesteps, which passes a per-token timestep of shape (batch, tokens).
WAN = dict(num_attention_heads=2, attention_head_dim=16, text_dim=32, ffn_dim=64, num_layers=2)


def make_wan():
    return _build("WanTransformer3DModel", **WAN)


def wan_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 16, 3, 8, 8, generator=g),
                timestep=torch.tensor(int(timestep)).expand(2),
                encoder_hidden_states=_t5_embeds(g, [5, 8], 8, 32),
                return_dict=False)


def make_wan22():
    return _build("WanTransformer3DModel", **WAN, in_channels=48, out_channels=48)


def wan22_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    mask = torch.ones(2, 48, 3, 8, 8)                        # text-to-video: no frame held clean
    return dict(hidden_states=torch.randn(2, 48, 3, 8, 8, generator=g),
                timestep=(mask[0][0][:, ::2, ::2] * torch.tensor(int(timestep))).flatten()[None].expand(2, -1),
                encoder_hidden_states=_t5_embeds(g, [5, 8], 8, 32),
                return_dict=False)


# --- WanVACETransformer3DModel (WanVACEPipeline: control video + mask latents, per-layer conditioning scale) ---------
# vace_layers [0, 5, ..., 35] of 40 hint every 5th block: 4 layers with hints at 0 and 2 keep blocks without hints.
WAN_VACE = dict(num_attention_heads=2, attention_head_dim=16, text_dim=32, ffn_dim=64, num_layers=4, vace_layers=[0, 2])


def make_wan_vace():
    return _build("WanVACETransformer3DModel", **WAN_VACE)


def wan_vace_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    video = torch.randn(2, 32, 3, 8, 8, generator=g)         # inactive + reactive video latents
    mask = (torch.rand(2, 64, 3, 8, 8, generator=g) > 0.5).float()   # the 8x8 pixel mask packed into channels
    return dict(hidden_states=torch.randn(2, 16, 3, 8, 8, generator=g),
                timestep=torch.tensor(int(timestep)).expand(2),
                encoder_hidden_states=_t5_embeds(g, [5, 8], 8, 32),
                control_hidden_states=torch.cat([video, mask], dim=1),
                control_hidden_states_scale=torch.ones(len(WAN_VACE["vace_layers"])),
                return_dict=False)


# --- ZImageTransformer2DModel (ZImagePipeline: lists of latents and unpadded captions; t' = (1000 - t) / 1000) ---
Z_IMAGE = dict(dim=32, n_layers=2, n_refiner_layers=2, n_heads=2, n_kv_heads=2, cap_feat_dim=32, axes_dims=[4, 6, 6])


def make_z_image():
    return _build("ZImageTransformer2DModel", **Z_IMAGE)


def z_image_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    latents = torch.randn(1, 16, 8, 8, generator=g).repeat(2, 1, 1, 1).unsqueeze(2)
    # [cond] + [uncond]: each caption keeps only its unmasked tokens
    captions = [torch.randn(5, 32, generator=g), torch.randn(3, 32, generator=g)]
    return dict(x=list(latents.unbind(dim=0)), t=torch.tensor(timestep).repeat(2), cap_feats=captions,
                return_dict=False)


ENTRIES: list[Entry] = [
    Entry("SanaVideoTransformer3DModel", make_sana_video, sana_video_inputs, (999.0, 140.0), "SanaVideoPipeline"),
    Entry("SanaWMLTX2RefinerTransformer3DModel", make_sana_wm_refiner, sana_wm_refiner_inputs, (909.375, 421.875),
          "SanaWMLTX2Refiner",
          notes=("distilled 3-step sigmas x 1000", "KV cache in 'inject' mode, random sink/history")),
    Entry("SanaWMTransformer3DModel", make_sana_wm, sana_wm_inputs, (1000.0, 16.7), "SanaWMPipeline",
          notes=("per-frame timestep (B, 1, T), first frame 0", "4 layers: GDN and softmax blocks",
                 "last timestep: 60 unshifted flow-match steps (the released scheduler config is not in diffusers)")),
    Entry("SkyReelsV2Transformer3DModel", make_skyreels_v2, skyreels_v2_inputs, (999.0, 146.0), "SkyReelsV2Pipeline"),
    Entry("StableAudio3DiTModel", make_stable_audio_3, stable_audio_3_inputs, (1.0, 0.2739), "StableAudio3Pipeline",
          notes=("8-step log-SNR sigmas; the model takes t in [0, 1] (scheduler num_train_timesteps 1)",)),
    Entry("StableAudioDiTModel", make_stable_audio, stable_audio_inputs, (1.5537, -0.301), "StableAudioPipeline"),
    Entry("T5FilmDecoder", make_t5_film, t5_film_inputs, (0.99, 0.0), "SpectrogramDiffusionPipeline",
          notes=("returns a plain tensor",)),
    Entry("Transformer2DModel", make_vq_diffusion, vq_diffusion_inputs, (99.0, 0.0), "VQDiffusionPipeline",
          config="VQ-Diffusion (microsoft/vq-diffusion-ithq)", name="Transformer2DModel (VQ-Diffusion)",
          notes=("output is log p(x_0) (B, classes - 1, tokens), the scheduler's input",)),
    Entry("WanAnimate2Transformer3DModel", make_wan_animate_2, wan_animate_2_inputs, (1000.0, 50.0),
          "WanAnimate2ModularPipeline", notes=("flex BlockMask self-attention over cached reference K/V",
                                               "one sample per call (the guider runs cond and uncond apart)",
                                               "first forward compiles the block mask (create_block_mask _compile)")),
    Entry("WanAnimateTransformer3DModel", make_wan_animate, wan_animate_inputs, (999.0, 60.0), "WanAnimatePipeline"),
    Entry("WanTransformer3DModel", make_wan, wan_inputs, (999.0, 60.0), "WanPipeline", config="Wan 2.1",
          name="WanTransformer3DModel (Wan 2.1)"),
    Entry("WanTransformer3DModel", make_wan22, wan22_inputs, (999.0, 96.0), "WanPipeline", config="Wan 2.2 TI2V-5B",
          name="WanTransformer3DModel (Wan 2.2)", notes=("expand_timesteps: timestep (B, tokens)",)),
    Entry("WanVACETransformer3DModel", make_wan_vace, wan_vace_inputs, (999.0, 60.0), "WanVACEPipeline"),
    Entry("ZImageTransformer2DModel", make_z_image, z_image_inputs, (0.0, 0.9911), "ZImagePipeline",
          notes=("list inputs and list output",)),
]

EXCLUDED: dict[str, str] = {
    "TransformerTemporalModel": "a UNet sub-block (temporal attention in UNet3DConditionModel and I2VGenXLUNet); "
                                "TextToVideoSDPipeline and I2VGenXLPipeline drive the UNet",
}
