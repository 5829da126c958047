"""Coverage zoo, part A: AceStep .. Cosmos (diffusers 0.42.1 `diffusers.models.transformers`).

Every model keeps its class defaults except sizes (layers, heads, head dim, widths, embedding dims, sample sizes,
frames, sequence lengths). Every `inputs` follows the forward call in the class's pipeline at one denoising step.
"""
from __future__ import annotations

import importlib.util
import inspect
from types import SimpleNamespace

import torch

from tests.coverage_zoo import Entry
from tests.coverage_zoo.common import build as _build, gen as _gen


def _config(cls_name: str, **sizes) -> SimpleNamespace:
    """The config a model built with `sizes` has, without building it (for pipeline helpers that read it)."""
    import diffusers

    params = inspect.signature(getattr(diffusers, cls_name).__init__).parameters
    defaults = {k: p.default for k, p in params.items() if k != "self" and p.default is not inspect.Parameter.empty}
    return SimpleNamespace(**{**defaults, **sizes})


def _image_ids(height: int, width: int) -> torch.Tensor:
    # FLUX-style (0, row, col) ids, as the pipelines' `_prepare_latent_image_ids` build them
    ids = torch.zeros(height, width, 3)
    ids[..., 1] = torch.arange(height)[:, None]
    ids[..., 2] = torch.arange(width)[None, :]
    return ids.reshape(-1, 3)


def _padded(batch: int, length: int, real: list[int]) -> torch.Tensor:
    """A (batch, length) 0/1 mask whose row i has real[i] leading ones (a tokenizer's right padding)."""
    return (torch.arange(length)[None, :] < torch.tensor(real)[:, None]).long()


# --- AceStepTransformer1DModel (AceStepPipeline: audio, APG guidance batched as [cond, null]) -------------------------
ACE_STEP = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=16, sliding_window=4)


def make_ace_step():
    return _build("AceStepTransformer1DModel", **ACE_STEP)


def ace_step_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    frames, acoustic = 12, 64   # audio_acoustic_hidden_dim; context = [src_latents, chunk_mask] on channels
    cond = torch.randn(1, 6, 32, generator=g)
    t = torch.full((2,), timestep)
    return dict(hidden_states=torch.randn(1, frames, acoustic, generator=g).repeat(2, 1, 1),
                timestep=t, timestep_r=t,
                encoder_hidden_states=torch.cat([cond, torch.randn(1, 1, 32, generator=g).expand_as(cond)]),
                context_latents=torch.cat([torch.randn(1, frames, acoustic, generator=g),
                                           torch.ones(1, frames, acoustic)], dim=-1).repeat(2, 1, 1),
                return_dict=False)


# --- AllegroTransformer3DModel (AllegroPipeline) ----------------------------------------------------------------------
# head dim 24: the pipeline's RoPE gives each of (t, h, w) a third of the head dim, which must be even
ALLEGRO = dict(num_attention_heads=2, attention_head_dim=24, num_layers=2, cross_attention_dim=48,
               sample_height=8, sample_width=8, sample_frames=2, caption_channels=32)


def make_allegro():
    return _build("AllegroTransformer3DModel", **ALLEGRO)


def allegro_inputs(timestep: float, seed: int) -> dict:
    from diffusers.models.embeddings import get_3d_rotary_pos_embed_allegro

    g = _gen(seed)
    frames, side, text = 2, 8, 8
    cfg = _config("AllegroTransformer3DModel", **ALLEGRO)
    grid = side // cfg.patch_size
    freqs_t, freqs_h, freqs_w, grid_t, grid_h, grid_w = get_3d_rotary_pos_embed_allegro(
        embed_dim=cfg.attention_head_dim, crops_coords=((0, 0), (grid, grid)), grid_size=(grid, grid),
        temporal_size=frames,
        interpolation_scale=(cfg.interpolation_scale_t, cfg.interpolation_scale_h, cfg.interpolation_scale_w))
    pos = torch.cartesian_prod(grid_t.long(), grid_h.long(), grid_w.long())
    pos = pos.reshape(-1, 3).transpose(0, 1).reshape(3, 1, -1).contiguous()
    return dict(hidden_states=torch.randn(1, 4, frames, side, side, generator=g).repeat(2, 1, 1, 1, 1),
                encoder_hidden_states=torch.randn(2, text, 32, generator=g),
                encoder_attention_mask=_padded(2, text, [3, 6]),   # [negative, prompt], T5 max-length padding
                timestep=torch.full((2,), timestep),
                image_rotary_emb=((freqs_t, freqs_h, freqs_w), tuple(pos)),
                return_dict=False)


# --- AnyFlowTransformer3DModel (AnyFlowPipeline: CFG fused into the weights, guidance_scale=1) -----------------------
ANYFLOW = dict(num_attention_heads=2, attention_head_dim=16, text_dim=32, ffn_dim=64, num_layers=2)


def make_anyflow():
    return _build("AnyFlowTransformer3DModel", **ANYFLOW)


def anyflow_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    frames = 3
    # per-frame (t, r) of shape (batch, frames); r is the next sigma of the default 50-step, shift-1 schedule
    t = torch.full((2, frames), timestep)
    return dict(hidden_states=torch.randn(2, frames, 16, 8, 8, generator=g),   # (B, F, C, H, W)
                timestep=t, r_timestep=(t - 1000 / 50).clamp(min=0),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                return_dict=False)


# --- AnyFlowFARTransformer3DModel (AnyFlowFARPipeline: chunked autoregressive with a KV cache) -----------------------
ANYFLOW_FAR = dict(num_attention_heads=2, attention_head_dim=16, text_dim=32, ffn_dim=64, num_layers=2,
                   chunk_partition=(1, 2))


def make_anyflow_far():
    return _build("AnyFlowFARTransformer3DModel", **ANYFLOW_FAR)


def anyflow_far_inputs(timestep: float, seed: int) -> dict:
    # the denoising call of chunk 1 (2 frames), after chunk 0 was written into the preallocated KV cache
    g = _gen(seed)
    cfg = _config("AnyFlowFARTransformer3DModel", **ANYFLOW_FAR)
    partition, side = list(cfg.chunk_partition), 8
    full = (side // cfg.patch_size[1]) * (side // cfg.patch_size[2])
    compressed = (side // cfg.compressed_patch_size[1]) * (side // cfg.compressed_patch_size[2])
    heads, dim = cfg.num_attention_heads, cfg.attention_head_dim
    kv_cache = {
        layer: {"full_cache": torch.randn(2, 2, heads, cfg.full_chunk_limit * max(partition) * full, dim, generator=g),
                "compressed_cache": torch.randn(2, 2, heads, (len(partition) - cfg.full_chunk_limit + 1)
                                                * max(partition) * compressed, dim, generator=g)}
        for layer in range(cfg.num_layers)}
    t = torch.full((2, partition[1]), timestep)
    return dict(hidden_states=torch.randn(2, partition[1], 16, side, side, generator=g),
                timestep=t, r_timestep=(t - 1000 / 50).clamp(min=0),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                chunk_partition=partition,
                kv_cache=kv_cache, kv_cache_flag={"num_cached_chunks": 1, "is_cache_step": False},
                return_dict=False)


# --- AuraFlowTransformer2DModel (AuraFlowPipeline: timestep t/1000) ---------------------------------------------------
AURA_FLOW = dict(sample_size=8, num_mmdit_layers=2, num_single_dit_layers=2, attention_head_dim=16,
                 num_attention_heads=2, joint_attention_dim=32, caption_projection_dim=32, pos_embed_max_size=16)


def make_aura_flow():
    return _build("AuraFlowTransformer2DModel", **AURA_FLOW)


def aura_flow_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    text = 8
    mask = _padded(2, text, [2, 6])[..., None]   # the pipeline zeroes padded T5 positions
    return dict(hidden_states=torch.randn(1, 4, 8, 8, generator=g).repeat(2, 1, 1, 1),
                encoder_hidden_states=torch.randn(2, text, 32, generator=g) * mask,
                timestep=torch.full((2,), timestep),
                return_dict=False)


# --- BriaFibo2Transformer2DModel (BriaFibo2Pipeline: text-to-image; CFG is a second, unbatched pass) ---------------
BRIA_FIBO2 = dict(dim=32, n_layers=2, n_refiner_layers=2, n_heads=2, cap_feat_dim=48, injection_layer_ids=(1,),
                  perceiver_num_layers=2, min_num_gist_tokens=4, max_num_gist_tokens=8, gist_step=1,
                  gist_min_text_len=4, gist_max_text_len=32, axes_dims=(4, 6, 6))


def make_bria_fibo2():
    return _build("BriaFibo2Transformer2DModel", **BRIA_FIBO2)


def bria_fibo2_inputs(timestep: float, seed: int) -> dict:
    # two prompts of different lengths, padded to the longer one: the pipeline passes their bool mask
    g = _gen(seed)
    text, bundles = 8, 1 + len(BRIA_FIBO2["injection_layer_ids"])
    return dict(hidden_states=torch.randn(2, 32, 8, 8, generator=g),
                timestep=torch.full((2,), timestep),   # the pipeline passes t / 1000
                encoder_hidden_states=torch.randn(2, bundles, text, 48, generator=g),
                encoder_attention_mask=_padded(2, text, [8, 5]).bool(),
                return_dict=False)


# --- BriaFiboTransformer2DModel (BriaFiboPipeline) ------------------------------------------------------------------
BRIA_FIBO = dict(num_layers=2, num_single_layers=2, attention_head_dim=16, num_attention_heads=2,
                 joint_attention_dim=32, axes_dims_rope=[4, 6, 6], text_encoder_dim=16)


def make_bria_fibo():
    return _build("BriaFiboTransformer2DModel", **BRIA_FIBO)


def bria_fibo_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    side, text = 4, 6
    # [negative, prompt]; the empty negative prompt is padded to the prompt's length with zeros
    mask = torch.tensor([[1.0] + [0.0] * (text - 1), [1.0] * text])
    # every hidden state of the text encoder, trimmed/duplicated to one per block (2 + 2)
    layers = [torch.randn(2, text, 16, generator=g) * mask[..., None] for _ in range(4)]
    attention_mask = torch.cat([mask, torch.ones(2, side * side)], dim=1).bool()
    return dict(hidden_states=torch.randn(1, side * side, 64, generator=g).repeat(2, 1, 1),
                timestep=torch.full((2,), timestep),
                encoder_hidden_states=torch.randn(2, text, 32, generator=g) * mask[..., None],
                text_encoder_layers=layers,
                joint_attention_kwargs={"attention_mask": attention_mask[:, None, None, :]},
                txt_ids=torch.zeros(text, 3), img_ids=_image_ids(side, side),
                return_dict=False)


# --- BriaTransformer2DModel (BriaPipeline: timestep in 0..1000) -----------------------------------------------------
BRIA = dict(num_layers=2, num_single_layers=2, attention_head_dim=16, num_attention_heads=2,
            joint_attention_dim=32, axes_dims_rope=[4, 6, 6])


def make_bria():
    return _build("BriaTransformer2DModel", **BRIA)


def bria_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    side, text = 4, 6
    return dict(hidden_states=torch.randn(1, side * side, 64, generator=g).repeat(2, 1, 1),
                timestep=torch.full((2,), timestep),
                encoder_hidden_states=torch.randn(2, text, 32, generator=g),
                txt_ids=torch.zeros(text, 3), img_ids=_image_ids(side, side),
                return_dict=False)


# --- ChromaTransformer2DModel (ChromaPipeline: t/1000; CFG is a second pass with its own mask) ---------------------
CHROMA = dict(num_layers=2, num_single_layers=2, attention_head_dim=16, num_attention_heads=2,
              joint_attention_dim=32, axes_dims_rope=(4, 6, 6), approximator_hidden_dim=32, approximator_layers=2)


def make_chroma():
    return _build("ChromaTransformer2DModel", **CHROMA)


def chroma_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    side, text = 4, 8
    real = torch.tensor([3, 5])   # two prompts; the mask keeps the first padding token as well
    text_mask = (torch.arange(text)[None, :] <= real[:, None]).float()
    return dict(hidden_states=torch.randn(2, side * side, 64, generator=g),
                timestep=torch.full((2,), timestep),
                encoder_hidden_states=torch.randn(2, text, 32, generator=g),
                txt_ids=torch.zeros(text, 3), img_ids=_image_ids(side, side),
                attention_mask=torch.cat([text_mask, torch.ones(2, side * side)], dim=1),
                return_dict=False)


# --- ChronoEditTransformer3DModel (ChronoEditPipeline: Wan 2.1 I2V-based image edit, 5 frames) ---------------------
# The class defaults are Wan T2V (16 input channels, no image branch); the pipeline concatenates latents (16) with
# [frame mask (4), first-frame latents (16)] and passes CLIP image embeddings, as the released ChronoEdit-14B does.
CHRONO_EDIT = dict(num_attention_heads=2, attention_head_dim=16, text_dim=32, ffn_dim=64, num_layers=2,
                   in_channels=36, image_dim=32, added_kv_proj_dim=32)


def make_chrono_edit():
    return _build("ChronoEditTransformer3DModel", **CHRONO_EDIT)


def chrono_edit_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    frames, side = 2, 8   # num_frames=5 -> 2 latent frames
    latents = torch.randn(2, 16, frames, side, side, generator=g)
    mask = torch.zeros(2, 4, frames, side, side)
    mask[:, :, 0] = 1
    condition = torch.cat([mask, torch.randn(2, 16, frames, side, side, generator=g)], dim=1)
    return dict(hidden_states=torch.cat([latents, condition], dim=1),
                timestep=torch.full((2,), timestep),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                encoder_hidden_states_image=torch.randn(2, 5, 32, generator=g),
                return_dict=False)


# --- CogVideoXTransformer3DModel (CogVideoXPipeline, CogVideoX-2b layout: no RoPE) -------------------------------
COGVIDEOX = dict(num_attention_heads=2, attention_head_dim=16, time_embed_dim=32, text_embed_dim=32, num_layers=2,
                 sample_width=8, sample_height=8, sample_frames=9, max_text_seq_length=8)


def make_cogvideox():
    return _build("CogVideoXTransformer3DModel", **COGVIDEOX)


def cogvideox_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=torch.randn(1, 3, 16, 8, 8, generator=g).repeat(2, 1, 1, 1, 1),   # (B, F, C, H, W)
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                timestep=torch.full((2,), int(timestep), dtype=torch.long),
                image_rotary_emb=None,
                return_dict=False)


# --- CogView3PlusTransformer2DModel (CogView3PlusPipeline) ---------------------------------------------------------
COGVIEW3 = dict(num_layers=2, attention_head_dim=16, num_attention_heads=2, text_embed_dim=32, time_embed_dim=32,
                condition_dim=16, pos_embed_max_size=8, sample_size=8)


def make_cogview3plus():
    return _build("CogView3PlusTransformer2DModel", **COGVIEW3)


def _size_conditions(batch: int, side: int) -> dict:
    size = torch.tensor([[side * 8.0, side * 8.0]]).repeat(batch, 1)
    return dict(original_size=size, target_size=size.clone(), crop_coords=torch.zeros(batch, 2))


def cogview3plus_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=torch.randn(1, 16, 8, 8, generator=g).repeat(2, 1, 1, 1),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                timestep=torch.full((2,), int(timestep), dtype=torch.long),
                **_size_conditions(2, 8), return_dict=False)


# --- CogView4Transformer2DModel (CogView4Pipeline: CFG is a second pass; GLM tokens padded to a multiple of 16) ----
COGVIEW4 = dict(num_layers=2, attention_head_dim=16, num_attention_heads=2, text_embed_dim=32, time_embed_dim=32,
                condition_dim=16, pos_embed_max_size=8, sample_size=8)


def make_cogview4():
    return _build("CogView4Transformer2DModel", **COGVIEW4)


def cogview4_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    return dict(hidden_states=torch.randn(2, 16, 8, 8, generator=g),
                encoder_hidden_states=torch.randn(2, 16, 32, generator=g),
                timestep=torch.full((2,), timestep),
                **_size_conditions(2, 8), return_dict=False)


# --- ConsisIDTransformer3DModel (ConsisIDPipeline: identity-preserving image-to-video) -----------------------------
# The class defaults have no face branch and 16 input channels; the pipeline concatenates image latents on the
# channels (in_channels // 2 each) and passes face embeddings, as the released ConsisID-preview (in_channels=32,
# is_train_face, CogVideoX-5b-style RoPE and learned positional embeddings) does.
CONSIS_ID = dict(num_attention_heads=2, attention_head_dim=16, time_embed_dim=32, text_embed_dim=32, num_layers=2,
                 sample_width=8, sample_height=8, sample_frames=9, max_text_seq_length=8,
                 in_channels=32, is_train_face=True, use_rotary_positional_embeddings=True,
                 use_learned_positional_embeddings=True,
                 cross_attn_dim_head=16, cross_attn_num_heads=2, LFE_id_dim=32, LFE_vit_dim=32,
                 LFE_dim_head=16, LFE_num_heads=2, LFE_num_querie=4, LFE_output_dim=21,   # = int(inner_dim * 2 / 3)
                 LFE_depth=5)   # a multiple of LFE_num_scale (5), as 10 is


def make_consis_id():
    return _build("ConsisIDTransformer3DModel", **CONSIS_ID)


def _cogvideox_rope(cfg: SimpleNamespace, side: int, frames: int):
    from diffusers.models.embeddings import get_3d_rotary_pos_embed
    from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid

    # CogVideoXPipeline._prepare_rotary_positional_embeddings for a (side x side) latent
    grid = side // cfg.patch_size
    base_w, base_h = cfg.sample_width // cfg.patch_size, cfg.sample_height // cfg.patch_size
    crops = get_resize_crop_region_for_grid((grid, grid), base_w, base_h)
    return get_3d_rotary_pos_embed(embed_dim=cfg.attention_head_dim, crops_coords=crops, grid_size=(grid, grid),
                                   temporal_size=frames)


def consis_id_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    frames, side = 3, 8
    cfg = _config("ConsisIDTransformer3DModel", **CONSIS_ID)
    latents = torch.randn(1, frames, 16, side, side, generator=g).repeat(2, 1, 1, 1, 1)
    image = torch.zeros(1, frames, 16, side, side)   # first-frame latents, zero-padded in time
    image[:, 0] = torch.randn(1, 16, side, side, generator=g)
    return dict(hidden_states=torch.cat([latents, image.repeat(2, 1, 1, 1, 1)], dim=2),
                encoder_hidden_states=torch.randn(2, 8, 32, generator=g),
                timestep=torch.full((2,), int(timestep), dtype=torch.long),
                image_rotary_emb=_cogvideox_rope(cfg, side, frames),
                # one face, computed once per prompt and not duplicated for the CFG batch
                id_cond=torch.randn(1, 32, generator=g),
                id_vit_hidden=[torch.randn(1, 5, 32, generator=g) for _ in range(cfg.LFE_num_scale)],
                return_dict=False)


# --- Cosmos3OmniTransformer (Cosmos3OmniPipeline: one packed sequence of text + video tokens, no batch dim) -------
COSMOS3 = dict(head_dim=16, hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=2,
               num_key_value_heads=1)


def make_cosmos3():
    return _build("Cosmos3OmniTransformer", **COSMOS3)


def cosmos3_inputs(timestep: float, seed: int) -> dict:
    from diffusers.pipelines.cosmos.pipeline_cosmos3_omni import Cosmos3OmniPipeline as P

    # the pipeline's own packing helpers, on the tiny config: an 8-token prompt and a 3-latent-frame video
    g = _gen(seed)
    cfg = _config("Cosmos3OmniTransformer", **COSMOS3)
    fake = SimpleNamespace(transformer=SimpleNamespace(config=cfg), vae_scale_factor_temporal=4)
    latents = torch.randn(1, cfg.latent_channel, 3, 8, 8, generator=g)
    text = P._prepare_text_segment(fake, torch.randint(0, cfg.vocab_size, (8,), generator=g).tolist(), "cpu")
    vision = P._prepare_vision_segment(fake, input_vision_tokens=latents, has_image_condition=False,
                                       mrope_offset=text["vision_start_temporal_offset"], vision_fps=24.0,
                                       curr=text["und_len"], device="cpu")
    return dict(input_ids=text["input_ids"], text_indexes=text["text_indexes"],
                position_ids=torch.cat([text["text_mrope_ids"], vision["vision_mrope_ids"]], dim=1),
                und_len=text["und_len"], sequence_length=text["und_len"] + vision["num_vision_tokens"],
                vision_tokens=[latents], vision_token_shapes=vision["vision_token_shapes"],
                vision_sequence_indexes=vision["vision_sequence_indexes"],
                vision_mse_loss_indexes=vision["vision_mse_loss_indexes"],
                vision_timesteps=torch.full((vision["num_noisy_vision_tokens"],), int(timestep)),   # UniPC: int64
                vision_noisy_frame_indexes=vision["vision_noisy_frame_indexes"],
                return_dict=False)


# --- CosmosTransformer3DModel (CosmosTextToWorldPipeline: the defaults are Cosmos-1.0 Text2World) -----------------
COSMOS = dict(num_attention_heads=2, attention_head_dim=16, num_layers=2, text_embed_dim=32, adaln_lora_dim=8,
              max_size=(4, 16, 16))


def make_cosmos():
    return _build("CosmosTransformer3DModel", **COSMOS)


def cosmos_inputs(timestep: float, seed: int) -> dict:
    g = _gen(seed)
    frames, side, text = 3, 8, 8
    mask = _padded(2, text, [5, 7])[..., None]   # T5 embeddings zeroed past each prompt's length
    return dict(hidden_states=torch.randn(2, 16, frames, side, side, generator=g),
                timestep=torch.full((2,), timestep),
                encoder_hidden_states=torch.randn(2, text, 32, generator=g) * mask,
                fps=30,
                padding_mask=torch.zeros(1, 1, side * 8, side * 8),   # in pixels
                return_dict=False)


_HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None

ENTRIES: list[Entry] = [
    Entry("AceStepTransformer1DModel", make_ace_step, ace_step_inputs, (1.0, 0.3), "AceStepPipeline"),
    Entry("AllegroTransformer3DModel", make_allegro, allegro_inputs, (999.0, 0.0), "AllegroPipeline"),
    Entry("AnyFlowFARTransformer3DModel", make_anyflow_far, anyflow_far_inputs, (1000.0, 20.0),
          "AnyFlowFARPipeline"),
    Entry("AnyFlowTransformer3DModel", make_anyflow, anyflow_inputs, (1000.0, 20.0), "AnyFlowPipeline"),
    Entry("AuraFlowTransformer2DModel", make_aura_flow, aura_flow_inputs, (1.0, 0.003), "AuraFlowPipeline"),
    Entry("BriaFibo2Transformer2DModel", make_bria_fibo2, bria_fibo2_inputs, (1.0, 0.0333), "BriaFibo2Pipeline"),
    Entry("BriaFiboTransformer2DModel", make_bria_fibo, bria_fibo_inputs, (1000.0, 33.3), "BriaFiboPipeline"),
    Entry("BriaTransformer2DModel", make_bria, bria_inputs, (1000.0, 1.0), "BriaPipeline"),
    Entry("ChromaTransformer2DModel", make_chroma, chroma_inputs, (1.0, 0.085), "ChromaPipeline"),
    Entry("ChronoEditTransformer3DModel", make_chrono_edit, chrono_edit_inputs, (1000.0, 1.0), "ChronoEditPipeline",
          config="ChronoEdit-14B (Wan 2.1 I2V layout)"),
    Entry("CogVideoXTransformer3DModel", make_cogvideox, cogvideox_inputs, (999.0, 19.0), "CogVideoXPipeline"),
    Entry("CogView3PlusTransformer2DModel", make_cogview3plus, cogview3plus_inputs, (999.0, 19.0),
          "CogView3PlusPipeline"),
    Entry("CogView4Transformer2DModel", make_cogview4, cogview4_inputs, (1000.0, 1.0), "CogView4Pipeline"),
    Entry("ConsisIDTransformer3DModel", make_consis_id, consis_id_inputs, (999.0, 19.0), "ConsisIDPipeline",
          config="ConsisID-preview"),
    Entry("Cosmos3OmniTransformer", make_cosmos3, cosmos3_inputs, (999.0, 29.0), "Cosmos3OmniPipeline"),
]

EXCLUDED: dict[str, str] = {}

if _HAS_TORCHVISION:
    ENTRIES.append(Entry("CosmosTransformer3DModel", make_cosmos, cosmos_inputs, (1.0955, -1.5537),
                         "CosmosTextToWorldPipeline", config="Cosmos-1.0 Text2World"))
else:
    EXCLUDED["CosmosTransformer3DModel"] = (
        "CosmosTextToWorldPipeline denoiser, but its default concat_padding_mask=True resizes the padding mask with "
        "torchvision, which this environment lacks: NameError: name 'transforms' is not defined")
