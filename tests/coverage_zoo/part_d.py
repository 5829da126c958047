"""Coverage zoo, part d: MiniMaxMusic3 .. Sana (diffusers 0.42.1).

Each make_x builds the class with its default constructor arguments, only sizes reduced; each x_inputs returns the
forward kwargs the named pipeline passes at one denoising step. Batch 2: the CFG batch where the pipeline
concatenates negative and positive, else two prompts (pipelines and guiders that run the negative prompt as a
separate call).
"""
from __future__ import annotations

import math

import torch

from tests.coverage_zoo import Entry
from tests.coverage_zoo.common import gen as _gen


def _mask(lengths, total: int, dtype=torch.long) -> torch.Tensor:
    """A right-padded text mask: row i keeps its first lengths[i] tokens."""
    return (torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]).to(dtype)


def _full(timestep: float, batch: int = 2, dtype=torch.float32) -> torch.Tensor:
    return torch.full((batch,), timestep, dtype=dtype)


# ---------------------------------------------------------------------------------------------- MiniMax Music 3


def make_minimax_music3():
    from diffusers import MiniMaxMusic3Transformer1DModel

    torch.manual_seed(0)
    # rotary_dim 32 of head dim 64 -> 8 of 16
    model = MiniMaxMusic3Transformer1DModel(condition_dim=32, num_layers=2, num_attention_heads=2,
                                            attention_head_dim=16, ff_inner_dim=64, rotary_dim=8)
    return model.eval()


def minimax_music3_inputs(timestep: float, seed: int) -> dict:
    # MiniMaxMusic3ChunkDenoiseInner: the guider runs cond and uncond (all-zero conditioning) as separate calls;
    # here the two rows are one conditioned and one unconditioned window. Latents are (B, 128, latent frames).
    g = _gen(seed)
    condition = torch.randn(2, 8, 32, generator=g)
    condition[1] = 0
    return dict(hidden_states=torch.randn(2, 128, 8, generator=g), timestep=_full(timestep),
                encoder_hidden_states=condition, return_dict=False)


# ---------------------------------------------------------------------------------------------- Mochi


def make_mochi():
    from diffusers import MochiTransformer3DModel

    torch.manual_seed(0)
    # text_embed_dim must divide by the pooler's 8 heads
    model = MochiTransformer3DModel(num_attention_heads=2, attention_head_dim=16, num_layers=2,
                                    pooled_projection_dim=16, text_embed_dim=32, max_sequence_length=8)
    return model.eval()


def mochi_inputs(timestep: float, seed: int) -> dict:
    # MochiPipeline: [negative, positive] CFG batch, T5 mask (bool; "" keeps one token), timestep = 1000 * (1 - sigma)
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 12, 2, 8, 8, generator=g),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g), timestep=_full(timestep),
                encoder_attention_mask=_mask([1, 6], 8, torch.bool), return_dict=False)


# ---------------------------------------------------------------------------------------------- Motif-Video


def make_motif_video():
    from diffusers import MotifVideoTransformer3DModel

    torch.manual_seed(0)
    model = MotifVideoTransformer3DModel(num_attention_heads=2, attention_head_dim=16, num_layers=2,
                                         num_single_layers=2, text_embed_dim=32, rope_axes_dim=(4, 6, 6))
    return model.eval()


def motif_video_inputs(timestep: float, seed: int) -> dict:
    # MotifVideoPipeline (T2V): hidden_states = cat([latents, zero condition, zero mask]) -> 16 + 16 + 1 channels.
    # The guider runs positive and negative as separate calls; two prompts here.
    g = _gen(seed)
    latents = torch.randn(2, 16, 2, 8, 8, generator=g)
    hidden = torch.cat([latents, torch.zeros_like(latents), torch.zeros(2, 1, 2, 8, 8)], dim=1)
    return dict(hidden_states=hidden, timestep=_full(timestep),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                encoder_attention_mask=_mask([8, 5], 8, torch.bool), return_dict=False)


# ---------------------------------------------------------------------------------------------- NucleusMoE-Image


def make_nucleusmoe_image():
    from diffusers import NucleusMoEImageTransformer2DModel

    torch.manual_seed(0)
    # 5 layers: the default dense_moe_strategy keeps the first three and the last block dense, so 5 is the fewest
    # with an MoE block. Head dim 32: the dense MLP width is int(dim * 8 / 3) // 128 * 128, zero for dim < 48.
    # out_channels 16 (default None = 64 -> 4 * 64 outputs per token): the pipeline steps the packed (B, N, 64)
    # latents with the output, so the released model must project to 2 * 2 * 16.
    model = NucleusMoEImageTransformer2DModel(out_channels=16, num_layers=5, attention_head_dim=32,
                                              num_attention_heads=2,
                                              joint_attention_dim=32, axes_dims_rope=(4, 14, 14),
                                              moe_intermediate_dim=16)
    # SwiGLUExperts allocates its weights with torch.empty: draw them so the model is deterministic
    g = _gen(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".experts." in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return model.eval()


def nucleusmoe_image_inputs(timestep: float, seed: int) -> dict:
    # NucleusMoEImagePipeline: separate positive / negative calls (two prompts here), packed 2x2 latents,
    # timestep t / 1000, the mask only when a prompt is padded
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 16, 64, generator=g), timestep=_full(timestep / 1000),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                encoder_hidden_states_mask=_mask([8, 5], 8), img_shapes=[(1, 4, 4)] * 2, return_dict=False)


# ---------------------------------------------------------------------------------------------- OmniGen


def make_omnigen():
    from diffusers import OmniGenTransformer2DModel

    torch.manual_seed(0)
    # The default rope_scaling=None fails (the su-scaled RoPE indexes it); OmniGen-v1 ships short/long factors,
    # one per rotary frequency (head_dim / 2).
    rope_scaling = {"type": "su", "short_factor": [1.0] * 8, "long_factor": [1.0 + 0.5 * i for i in range(8)]}
    model = OmniGenTransformer2DModel(hidden_size=32, num_attention_heads=2, num_key_value_heads=2,
                                      intermediate_size=64, num_layers=2, rope_scaling=rope_scaling,
                                      pos_embed_max_size=16)
    return model.eval()


def omnigen_inputs(timestep: float, seed: int) -> dict:
    # OmniGenPipeline (text to image): the processor's collator builds [prompt, negative] ids, the causal-plus-image
    # 3-D mask and position ids; the output image has 64 x 64 pixels = 8 x 8 latents = 16 tokens
    from diffusers.pipelines.omnigen.processor_omnigen import OmniGenCollator

    g = _gen(seed)
    prompt = {"input_ids": torch.randint(3, 32000, (7,), generator=g).tolist(), "pixel_values": None,
              "image_sizes": None}
    negative = {"input_ids": torch.randint(3, 32000, (4,), generator=g).tolist(), "pixel_values": None,
                "image_sizes": None}
    data = OmniGenCollator(hidden_size=32)([(prompt, negative, None, [64, 64])])
    return dict(hidden_states=torch.randn(2, 4, 8, 8, generator=g), timestep=_full(timestep),
                input_ids=data["input_ids"], input_img_latents=[], input_image_sizes=data["input_image_sizes"],
                attention_mask=data["attention_mask"], position_ids=data["position_ids"], return_dict=False)


# ---------------------------------------------------------------------------------------------- Ovis-Image


def _text_ids(length: int) -> torch.Tensor:
    ids = torch.zeros(length, 3)
    ids[:, 1] = torch.arange(length)
    ids[:, 2] = torch.arange(length)
    return ids


def _image_ids(height: int, width: int) -> torch.Tensor:
    ids = torch.zeros(height, width, 3)
    ids[..., 1] = torch.arange(height)[:, None]
    ids[..., 2] = torch.arange(width)[None, :]
    return ids.reshape(-1, 3)


def make_ovis_image():
    from diffusers import OvisImageTransformer2DModel

    torch.manual_seed(0)
    model = OvisImageTransformer2DModel(num_layers=2, num_single_layers=2, attention_head_dim=16,
                                        num_attention_heads=2, joint_attention_dim=32, axes_dims_rope=(4, 6, 6))
    return model.eval()


def ovis_image_inputs(timestep: float, seed: int) -> dict:
    # OvisImagePipeline: separate cond / uncond calls (two prompts here), FLUX-style packed latents and ids, t / 1000
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 16, 64, generator=g), timestep=_full(timestep / 1000),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g), txt_ids=_text_ids(8),
                img_ids=_image_ids(4, 4), return_dict=False)


# ---------------------------------------------------------------------------------------------- PRX


def make_prx():
    from diffusers import PRXTransformer2DModel

    torch.manual_seed(0)
    model = PRXTransformer2DModel(context_in_dim=32, hidden_size=32, num_heads=2, depth=2, axes_dim=[8, 8])
    return model.eval()


def prx_inputs(timestep: float, seed: int) -> dict:
    # PRXPipeline: [uncond, cond] CFG batch, bool text mask, timestep t / num_train_timesteps
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 16, 8, 8, generator=g), timestep=_full(timestep),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                attention_mask=_mask([1, 6], 8, torch.bool), return_dict=False)


def make_prx_pixel():
    from diffusers import PRXTransformer2DModel

    torch.manual_seed(0)
    # PRXPixel: RGB in, bottleneck img_in, resolution embedding (PRXPixelPipeline docstring)
    model = PRXTransformer2DModel(in_channels=3, context_in_dim=32, hidden_size=32, num_heads=2, depth=2,
                                  axes_dim=[8, 8], bottleneck_size=16, resolution_embeds=True)
    return model.eval()


def prx_pixel_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 3, 8, 8, generator=g), timestep=_full(timestep),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                attention_mask=_mask([1, 6], 8, torch.bool), return_dict=False)


# ---------------------------------------------------------------------------------------------- PixArt


def make_pixart_alpha():
    from diffusers import PixArtTransformer2DModel

    torch.manual_seed(0)
    # PixArt-XL-2-1024-MS: sample_size 128, which turns on the resolution / aspect-ratio micro-conditions; with the
    # sample size shrunk that switch has to be set explicitly. caption_channels: T5 (default None). Head dim 24
    # (default 72): the micro-condition embedding splits the width in thirds.
    model = PixArtTransformer2DModel(num_attention_heads=2, attention_head_dim=24, num_layers=2,
                                     cross_attention_dim=48, sample_size=8, use_additional_conditions=True,
                                     caption_channels=32)
    return model.eval()


def pixart_alpha_inputs(timestep: float, seed: int) -> dict:
    # PixArtAlphaPipeline: [negative, positive] CFG batch, T5 mask, int64 timesteps (DPM-Solver), micro-conditions
    # for the 1024 model (64 x 64 pixels here)
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 4, 8, 8, generator=g),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g), encoder_attention_mask=_mask([1, 6], 8),
                timestep=_full(int(timestep), dtype=torch.long),
                added_cond_kwargs={"resolution": torch.tensor([[64.0, 64.0]] * 2),
                                   "aspect_ratio": torch.tensor([[1.0]] * 2)},
                return_dict=False)


def make_pixart_sigma():
    from diffusers import PixArtTransformer2DModel

    torch.manual_seed(0)
    model = PixArtTransformer2DModel(num_attention_heads=2, attention_head_dim=16, num_layers=2,
                                     cross_attention_dim=32, sample_size=8, use_additional_conditions=False,
                                     caption_channels=32)
    return model.eval()


def pixart_sigma_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 4, 8, 8, generator=g),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g), encoder_attention_mask=_mask([1, 6], 8),
                timestep=_full(int(timestep), dtype=torch.long),
                added_cond_kwargs={"resolution": None, "aspect_ratio": None}, return_dict=False)


# ---------------------------------------------------------------------------------------------- Qwen-Image


def make_qwenimage(**released):
    from diffusers import QwenImageTransformer2DModel

    torch.manual_seed(0)
    model = QwenImageTransformer2DModel(num_layers=2, attention_head_dim=16, num_attention_heads=2,
                                        joint_attention_dim=32, axes_dims_rope=(4, 6, 6), **released)
    return model.eval()


def qwenimage_inputs(timestep: float, seed: int) -> dict:
    # QwenImagePipeline: separate positive / negative calls (two prompts here), packed latents, t / 1000
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 16, 64, generator=g), timestep=_full(timestep / 1000),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                encoder_hidden_states_mask=_mask([8, 5], 8), img_shapes=[[(1, 4, 4)]] * 2, return_dict=False)


def make_qwenimage_edit_2511():
    return make_qwenimage(zero_cond_t=True)


def qwenimage_edit_inputs(timestep: float, seed: int) -> dict:
    # QwenImageEditPlusPipeline: [noisy latents, condition image latents] along the sequence; the pipeline keeps
    # the first 16 output tokens
    g = _gen(seed)
    hidden = torch.cat([torch.randn(2, 16, 64, generator=g), torch.randn(2, 16, 64, generator=g)], dim=1)
    return dict(hidden_states=hidden, timestep=_full(timestep / 1000),
                encoder_hidden_states=torch.randn(2, 12, 32, generator=g),
                encoder_hidden_states_mask=_mask([12, 9], 12), img_shapes=[[(1, 4, 4), (1, 4, 4)]] * 2,
                return_dict=False)


def make_qwenimage_layered():
    return make_qwenimage(use_additional_t_cond=True, use_layer3d_rope=True)


def qwenimage_layered_inputs(timestep: float, seed: int) -> dict:
    # QwenImageLayeredPipeline with layers=2: 3 noisy layers (the composite first) then the input image's latents;
    # additional_t_cond is the is_rgb flag (0)
    g = _gen(seed)
    hidden = torch.cat([torch.randn(2, 48, 64, generator=g), torch.randn(2, 16, 64, generator=g)], dim=1)
    return dict(hidden_states=hidden, timestep=_full(timestep / 1000),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                encoder_hidden_states_mask=_mask([8, 5], 8), img_shapes=[[(1, 4, 4)] * 4] * 2,
                additional_t_cond=torch.zeros(2, dtype=torch.long), return_dict=False)


# ---------------------------------------------------------------------------------------------- Qwen-Image 2.1


def make_qwenimage21():
    from diffusers import QwenImage21Transformer2DModel

    torch.manual_seed(0)
    model = QwenImage21Transformer2DModel(num_layers=2, attention_head_dim=16, num_attention_heads=2,
                                          context_in_dim=32, axes_dims_rope=(4, 6, 6))
    return model.eval()


def qwenimage21_inputs(timestep: float, seed: int) -> dict:
    # QwenImage21Pipeline (text to image), use_kv_cache=False: the pipeline default (True) prefills a KV cache at
    # the first step and decodes from it afterwards, state these per-step inputs cannot carry. img_mask is the
    # prompt's image-pad mask (no image slots) plus one slot per 2x2 group of target latents.
    g = _gen(seed)
    img_mask = torch.cat([torch.zeros(2, 8, dtype=torch.bool), torch.ones(2, 4, dtype=torch.bool)], dim=1)
    return dict(hidden_states=torch.randn(2, 16, 64, generator=g), timestep=_full(timestep / 1000),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g), encoder_hidden_states_mask=_mask([8, 5], 8),
                img_shapes=[[(1, 4, 4)]] * 2, img_mask=img_mask, return_dict=False)


def qwenimage21_edit_inputs(timestep: float, seed: int) -> dict:
    # QwenImage21Pipeline with one condition image (4x4 latents = 4 VLM slots, after a 3-token prefix); the latents
    # are [condition, target]. The pipeline keeps the last 16 output tokens.
    g = _gen(seed)
    slots = torch.zeros(2, 12, dtype=torch.bool)
    slots[:, 3:7] = True
    img_mask = torch.cat([slots, torch.ones(2, 4, dtype=torch.bool)], dim=1)
    hidden = torch.cat([torch.randn(2, 16, 64, generator=g), torch.randn(2, 16, 64, generator=g)], dim=1)
    return dict(hidden_states=hidden, timestep=_full(timestep / 1000),
                encoder_hidden_states=torch.randn(2, 12, 32, generator=g),
                encoder_hidden_states_mask=_mask([12, 10], 12), img_shapes=[[(1, 4, 4), (1, 4, 4)]] * 2,
                img_mask=img_mask, return_dict=False)


# ---------------------------------------------------------------------------------------------- RFD4 Proteina


def make_rfd4_proteina():
    from diffusers import RFD4ProteinaTransformer

    torch.manual_seed(0)
    model = RFD4ProteinaTransformer(nlayers=2, token_dim=32, nheads=2, dim_cond=32, pair_repr_dim=16,
                                    latent_dim=8, tri_mult_c=16)
    return model.eval()


def rfd4_proteina_inputs(timestep: float, seed: int) -> dict:
    # RFD4ProteinaPipeline, unconditional design of 8 residues: times in [0, 1] (0 = noise), the same for both
    # modalities here; recycle_depth follows the released 60-step schedule (6 passes at the start, 1 at the end).
    # The conditioning dict holds the annotations the default features require, all empty.
    from diffusers.pipelines.rfd4_proteina.pipeline_rfd4_proteina import RELEASED_RECYCLE_DEPTHS

    g = _gen(seed)
    batch, tokens = 2, 8
    times = torch.linspace(1e-3 ** 0.5, 1, 61)[:-1] ** 2   # the "power" schedule
    step = int((times - timestep).abs().argmin())
    atoms = {f"condition_{name}_1_atom": torch.zeros(batch, tokens, 37, dtype=torch.long)
             for name in ("hbond", "pistack", "pication", "saltbridge", "hydrophobic", "metal-coord")}
    conditioning = {
        **atoms,
        "condition_sequence_1_residue": torch.zeros(batch, tokens, dtype=torch.long),
        "condition_index-group_1_token": torch.zeros(batch, tokens, dtype=torch.long),
        "molecule_iid": torch.zeros(batch, tokens, dtype=torch.long),
        "molecule_entity_id": torch.zeros(batch, tokens, dtype=torch.long),
        "token_bond_path_length": (torch.arange(tokens)[:, None] - torch.arange(tokens)[None]).abs()
        .expand(batch, tokens, tokens).clone(),
        "is_in_context_conditioning": torch.zeros(batch, tokens, dtype=torch.bool),
        "supports_local_latent": torch.ones(batch, tokens, dtype=torch.bool),
    }
    return dict(bb_ca=torch.randn(batch, tokens, 3, generator=g),
                local_latents=torch.randn(batch, tokens, 8, generator=g),
                bb_ca_time=_full(timestep), local_latents_time=_full(timestep),
                padding_mask=torch.ones(batch, tokens, dtype=torch.bool),
                token_type=torch.zeros(batch, tokens, dtype=torch.long),
                atom37_mask=torch.ones(batch, tokens, 37, dtype=torch.bool), conditioning=conditioning,
                recycle_depth=RELEASED_RECYCLE_DEPTHS[step])


# ---------------------------------------------------------------------------------------------- SD3


def make_sd3(**released):
    from diffusers import SD3Transformer2DModel

    torch.manual_seed(0)
    model = SD3Transformer2DModel(sample_size=8, num_layers=2, attention_head_dim=16, num_attention_heads=2,
                                  joint_attention_dim=32, caption_projection_dim=32, pooled_projection_dim=16,
                                  pos_embed_max_size=8, **released)
    return model.eval()


def make_sd35_medium():
    # SD3.5 Medium: RMS qk-norm and MMDiT-X dual attention in the first 13 of 24 blocks (here the first of 2)
    return make_sd3(qk_norm="rms_norm", dual_attention_layers=(0,))


def sd3_inputs(timestep: float, seed: int) -> dict:
    # StableDiffusion3Pipeline: [negative, positive] CFG batch, CLIP+T5 tokens, pooled CLIP, t in 0..1000
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 16, 8, 8, generator=g), timestep=_full(timestep),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                pooled_projections=torch.randn(2, 16, generator=g), return_dict=False)


# ---------------------------------------------------------------------------------------------- Sana


def make_sana(**released):
    from diffusers import SanaTransformer2DModel

    torch.manual_seed(0)
    model = SanaTransformer2DModel(num_attention_heads=2, attention_head_dim=16, num_layers=2,
                                   num_cross_attention_heads=2, cross_attention_head_dim=16, cross_attention_dim=32,
                                   caption_channels=32, sample_size=8, **released)
    return model.eval()


def sana_inputs(timestep: float, seed: int) -> dict:
    # SanaPipeline: [negative, positive] CFG batch, Gemma mask, timestep t * timestep_scale (float)
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 32, 8, 8, generator=g),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g), encoder_attention_mask=_mask([1, 6], 8),
                timestep=_full(timestep), return_dict=False)


def make_sana_sprint():
    # SANA-Sprint: guidance embedding and RMS qk-norm across heads
    return make_sana(guidance_embeds=True, qk_norm="rms_norm_across_heads")


def sana_sprint_inputs(timestep: float, seed: int) -> dict:
    # SanaSprintPipeline: no CFG (two prompts), timestep is the SCM angle t mapped to sin t / (sin t + cos t),
    # guidance = 4.5 * guidance_embeds_scale
    g = _gen(seed)
    scm = math.sin(timestep) / (math.sin(timestep) + math.cos(timestep))
    return dict(hidden_states=torch.randn(2, 32, 8, 8, generator=g),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g), encoder_attention_mask=_mask([8, 5], 8),
                guidance=_full(4.5 * 0.1), timestep=_full(scm), return_dict=False)


ENTRIES: list[Entry] = [
    Entry("MiniMaxMusic3Transformer1DModel", make_minimax_music3, minimax_music3_inputs, timesteps=(0.0, 0.9667),
          pipeline="MiniMaxMusic3ModularPipeline",
          notes=("flow time runs 0 (noise) -> 1 - 1/30 (inverted sigmas of 30 steps)",)),
    Entry("MochiTransformer3DModel", make_mochi, mochi_inputs, timesteps=(0.0, 940.77), pipeline="MochiPipeline",
          notes=("Mochi passes reversed timesteps: 1000 * (1 - sigma), linear-quadratic schedule of 64 steps",)),
    Entry("MotifVideoTransformer3DModel", make_motif_video, motif_video_inputs, timesteps=(1000.0, 20.0),
          pipeline="MotifVideoPipeline", notes=("last timestep unshifted (the released scheduler's shift unknown)",)),
    Entry("NucleusMoEImageTransformer2DModel", make_nucleusmoe_image, nucleusmoe_image_inputs,
          timesteps=(1000.0, 60.55), pipeline="NucleusMoEImagePipeline"),
    Entry("OmniGenTransformer2DModel", make_omnigen, omnigen_inputs, timesteps=(0.0, 0.98),
          pipeline="OmniGenPipeline", config="OmniGen-v1",
          notes=("scheduler has num_train_timesteps=1 and inverted sigmas: t runs 0 (noise) -> 0.98",)),
    Entry("OvisImageTransformer2DModel", make_ovis_image, ovis_image_inputs, timesteps=(1000.0, 60.55),
          pipeline="OvisImagePipeline"),
    Entry("PRXTransformer2DModel", make_prx, prx_inputs, timesteps=(1.0, 0.001), pipeline="PRXPipeline"),
    Entry("PRXTransformer2DModel", make_prx_pixel, prx_pixel_inputs, timesteps=(1.0, 0.001),
          pipeline="PRXPixelPipeline", config="PRXPixel", name="PRXTransformer2DModel/pixel"),
    Entry("PixArtTransformer2DModel", make_pixart_alpha, pixart_alpha_inputs, timesteps=(999.0, 50.0),
          pipeline="PixArtAlphaPipeline", config="PixArt-XL-2-1024-MS"),
    Entry("PixArtTransformer2DModel", make_pixart_sigma, pixart_sigma_inputs, timesteps=(999.0, 50.0),
          pipeline="PixArtSigmaPipeline", config="PixArt-Sigma-XL-2-1024-MS", name="PixArtTransformer2DModel/sigma"),
    Entry("QwenImage21Transformer2DModel", make_qwenimage21, qwenimage21_inputs, timesteps=(1000.0, 74.91),
          pipeline="QwenImage21Pipeline", notes=("use_kv_cache=False",)),
    Entry("QwenImage21Transformer2DModel", make_qwenimage21, qwenimage21_edit_inputs, timesteps=(1000.0, 74.91),
          pipeline="QwenImage21Pipeline", name="QwenImage21Transformer2DModel/edit",
          notes=("use_kv_cache=False", "one condition image")),
    Entry("QwenImageTransformer2DModel", make_qwenimage, qwenimage_inputs, timesteps=(1000.0, 60.55),
          pipeline="QwenImagePipeline", config="Qwen-Image"),
    Entry("QwenImageTransformer2DModel", make_qwenimage_edit_2511, qwenimage_edit_inputs, timesteps=(1000.0, 60.55),
          pipeline="QwenImageEditPlusPipeline", config="Qwen-Image-Edit-2511",
          name="QwenImageTransformer2DModel/edit-2511"),
    Entry("QwenImageTransformer2DModel", make_qwenimage_layered, qwenimage_layered_inputs,
          timesteps=(1000.0, 52.56), pipeline="QwenImageLayeredPipeline", config="Qwen-Image-Layered",
          name="QwenImageTransformer2DModel/layered"),
    Entry("RFD4ProteinaTransformer", make_rfd4_proteina, rfd4_proteina_inputs, timesteps=(0.001, 0.9616),
          pipeline="RFD4ProteinaPipeline",
          notes=("times 0 (noise) -> 1; recycle_depth 6 at the first step, 1 at the last",)),
    Entry("SD3Transformer2DModel", make_sd3, sd3_inputs, timesteps=(1000.0, 8.93),
          pipeline="StableDiffusion3Pipeline", config="SD3 Medium"),
    Entry("SD3Transformer2DModel", make_sd35_medium, sd3_inputs, timesteps=(1000.0, 8.93),
          pipeline="StableDiffusion3Pipeline", config="SD3.5 Medium", name="SD3Transformer2DModel/sd3.5-medium"),
    Entry("SanaTransformer2DModel", make_sana, sana_inputs, timesteps=(999.0, 136.0), pipeline="SanaPipeline"),
    Entry("SanaTransformer2DModel", make_sana_sprint, sana_sprint_inputs, timesteps=(1.5708, 1.3),
          pipeline="SanaSprintPipeline", config="SANA-Sprint", name="SanaTransformer2DModel/sprint",
          notes=("timesteps are the SCM angles; the transformer gets sin t / (sin t + cos t)",)),
]

EXCLUDED: dict[str, str] = {
    "MiniMaxMusic3RVQDepthDecoder": "MiniMax Music 3's autoregressive depth (RVQ codebook) language model, run by "
                                    "MiniMaxMusic3AutoregressiveStep before denoising; not a denoiser",
    "PriorTransformer": "CLIP image-embedding prior (Kandinsky 2.x / Shap-E / unCLIP priors), not a latent denoiser "
                        "run by a transformer-denoiser pipeline",
}
