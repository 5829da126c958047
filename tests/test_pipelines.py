"""The optimized module inside diffusers pipelines: DiT (batched CFG), FLUX (sequential CFG through
cache_context), SD3 (joint attention, batched CFG). Text encoders are None: embeddings are passed in."""
import numpy as np
import pytest
import torch

import xslim_compile as xs
from tests.zoo import make_dit, make_flux, make_sd3


def _vae(**extra):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(block_out_channels=(8,), in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",),
                         norm_num_groups=8, sample_size=8, **extra).eval()


def _embeds(batch=1, seed=0, text=5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, text, 32, generator=g), torch.randn(batch, 16, generator=g)


def dit_pipe():
    from diffusers import DDIMScheduler, DiTPipeline

    # DiTPipeline's null class is 1000
    return DiTPipeline(transformer=make_dit(num_classes=1000), vae=_vae(), scheduler=DDIMScheduler())


def dit_call(pipe, steps):
    return pipe(class_labels=[1, 2], guidance_scale=4.0, num_inference_steps=steps,
                generator=torch.Generator().manual_seed(0), output_type="np").images


def flux_pipe():
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=_vae(shift_factor=0.0),
                        text_encoder=None, tokenizer=None, text_encoder_2=None, tokenizer_2=None,
                        transformer=make_flux())


def flux_call(pipe, steps):
    prompt, pooled = _embeds(seed=1)
    negative, negative_pooled = _embeds(seed=2)
    return pipe(prompt_embeds=prompt, pooled_prompt_embeds=pooled, negative_prompt_embeds=negative,
                negative_pooled_prompt_embeds=negative_pooled, true_cfg_scale=2.0, height=8, width=8,
                num_inference_steps=steps, generator=torch.Generator().manual_seed(0), output_type="np").images


def sd3_pipe():
    from diffusers import FlowMatchEulerDiscreteScheduler, StableDiffusion3Pipeline

    return StableDiffusion3Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=_vae(shift_factor=0.0),
                                    text_encoder=None, tokenizer=None, text_encoder_2=None, tokenizer_2=None,
                                    text_encoder_3=None, tokenizer_3=None, transformer=make_sd3())


def sd3_call(pipe, steps):
    prompt, pooled = _embeds(seed=1)
    negative, negative_pooled = _embeds(seed=2)
    return pipe(prompt_embeds=prompt, pooled_prompt_embeds=pooled, negative_prompt_embeds=negative,
                negative_pooled_prompt_embeds=negative_pooled, guidance_scale=3.0, height=8, width=8,
                num_inference_steps=steps, generator=torch.Generator().manual_seed(0), output_type="np").images


PIPELINES = {"dit": (dit_pipe, dit_call, 1), "flux": (flux_pipe, flux_call, 2), "sd3": (sd3_pipe, sd3_call, 1)}
STEPS = 6


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_optimized_transformer_in_the_pipeline(name):
    make_pipe, call, branches = PIPELINES[name]
    pipe = make_pipe()
    original = pipe.transformer
    want = call(pipe, STEPS)

    pipe.transformer = xs.optimize(original)  # every step full
    got = call(pipe, STEPS)
    assert _rel(got, want) <= 1e-5
    assert len(pipe.transformer.trace) == STEPS * branches

    schedule = ["full", "full", "skip", "block", "skip", "full"]
    pipe.transformer = xs.optimize(original, xs.XSlimConfig(schedule=schedule, always_compute_blocks=1))
    cached = call(pipe, STEPS)
    trace = pipe.transformer.trace
    per_branch = {}
    for record in trace:
        per_branch.setdefault(record.branch, []).append(record.variant)
    assert len(per_branch) == branches
    for variants in per_branch.values():
        assert variants == schedule
    assert 0 < _rel(cached, want) < 0.5  # an approximation, not a copy and not noise
    if name == "flux":
        assert set(per_branch) == {"cond", "uncond"}
