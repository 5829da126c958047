"""Config, construction and loading of the reference DiT and its noise schedule."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DiTTransformer2DModel

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "weights" / "dit_fmnist.safetensors"
NUM_CLASSES = 10
NULL_CLASS = NUM_CLASSES  # the extra row of the label table; what CFG's unconditional branch uses

DIT_CONFIG = dict(
    num_attention_heads=4,
    attention_head_dim=24,
    in_channels=1,
    out_channels=1,
    num_layers=12,
    sample_size=32,
    patch_size=2,
    num_embeds_ada_norm=NUM_CLASSES,
    norm_type="ada_norm_zero",
)
SCHEDULE_CONFIG = dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon")


def initialize_like_dit(model: DiTTransformer2DModel) -> None:
    """The DiT paper's initialisation (diffusers has none of its own: it loads pretrained weights):
    Xavier linears, N(0, 0.02) embeddings, and adaLN-Zero: every block's modulation and the final
    layer start at zero, so each block starts as the identity and training is stable and fast."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    proj = model.pos_embed.proj
    torch.nn.init.xavier_uniform_(proj.weight.view(proj.weight.shape[0], -1))
    torch.nn.init.zeros_(proj.bias)
    for block in model.transformer_blocks:
        emb = block.norm1.emb
        torch.nn.init.normal_(emb.class_embedder.embedding_table.weight, std=0.02)
        torch.nn.init.normal_(emb.timestep_embedder.linear_1.weight, std=0.02)
        torch.nn.init.normal_(emb.timestep_embedder.linear_2.weight, std=0.02)
        torch.nn.init.zeros_(block.norm1.linear.weight)
        torch.nn.init.zeros_(block.norm1.linear.bias)
    for layer in (model.proj_out_1, model.proj_out_2):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)


def build_dit() -> DiTTransformer2DModel:
    """A reference DiT initialised as in the DiT paper. Label dropout is done by the trainer (see
    train_dit)."""
    model = DiTTransformer2DModel(**DIT_CONFIG)
    initialize_like_dit(model)
    for block in model.transformer_blocks:
        # diffusers drops labels independently in every block's embedder; the trainer drops them once
        # per sample instead, so that the null class means the same thing in every block.
        block.norm1.emb.class_embedder.dropout_prob = 0.0
    return model


def load_dit(path: str | Path | None = None, dtype: torch.dtype = torch.float32) -> DiTTransformer2DModel:
    """The trained reference DiT in eval mode (weights stored as fp16 safetensors)."""
    from safetensors.torch import load_file

    path = Path(path) if path is not None else WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"reference weights not found at {path}; train them with "
                                f"`python -m benchmarks.reference.train_dit`")
    model = build_dit()
    state = {k: v.to(torch.float32) for k, v in load_file(str(path)).items()}
    model.load_state_dict(state)
    if dtype != torch.float32:
        model = model.to(dtype)
    return model.eval().requires_grad_(False)


def read_metadata(path: str | Path | None = None) -> dict:
    """Training metadata stored beside the weights (step count, measured class accuracy)."""
    from safetensors import safe_open

    path = Path(path) if path is not None else WEIGHTS
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta.get("xslim", "{}"))


def train_scheduler() -> DDPMScheduler:
    return DDPMScheduler(**SCHEDULE_CONFIG)


def sample_scheduler() -> DDIMScheduler:
    return DDIMScheduler(**SCHEDULE_CONFIG, clip_sample=True, set_alpha_to_one=False)
