"""What the model-change guard costs: `model_fingerprint` once per generation (and after a mutator call).

    python -m benchmarks.guard_overhead

The fingerprint walks every parameter, buffer and module of the model (runtime/guards.py), so its cost
grows with the module count, not with the weights' size. Production-size models are built on the meta
device from their published configurations (no weights needed: the walk reads structure only); the
reference DiT also runs one full CFG step at the demo's batch, so that the fingerprint can be put
beside a 50-step generation of it, measured in the same process.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from xslim_compile.runtime.guards import model_fingerprint

from .common import machine_name, write_json


def _flux():
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel(num_layers=19, num_single_layers=38, attention_head_dim=128,
                                  num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
                                  guidance_embeds=True, axes_dims_rope=(16, 56, 56))


def _sd35():
    from diffusers import SD3Transformer2DModel

    return SD3Transformer2DModel(sample_size=128, patch_size=2, in_channels=16, num_layers=38, attention_head_dim=64,
                                 num_attention_heads=38, joint_attention_dim=4096, caption_projection_dim=2432,
                                 pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=192,
                                 qk_norm="rms_norm")


def _pixart_sigma():
    from diffusers import PixArtTransformer2DModel

    return PixArtTransformer2DModel(num_attention_heads=16, attention_head_dim=72, in_channels=4, out_channels=8,
                                    num_layers=28, cross_attention_dim=1152, sample_size=128, patch_size=2,
                                    norm_type="ada_norm_single", caption_channels=4096, use_additional_conditions=False)


META_MODELS = {"FLUX.1-dev": _flux, "SD3.5-large": _sd35, "PixArt-Sigma": _pixart_sigma}


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def describe(model: torch.nn.Module, repeats: int) -> dict:
    return {"parameters": sum(1 for _ in model.parameters()), "modules": sum(1 for _ in model.modules()),
            "fingerprint_ms": round(median_ms(lambda: model_fingerprint(model), repeats), 3)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=20, help="samples per generation of the reference DiT")
    args = parser.parse_args(argv)
    rows = {}
    for name, make in META_MODELS.items():
        with torch.device("meta"):
            rows[name] = describe(make().eval(), args.repeats)
        print(f"{name}: {rows[name]}")

    from .reference.model import load_dit
    from .reference.sampler import DEFAULT_STEPS, sample

    model = load_dit().eval()
    row = describe(model, args.repeats)
    labels, seeds = [i % 10 for i in range(args.batch)], list(range(args.batch))
    generation_ms = median_ms(lambda: sample(model, labels, seeds, num_steps=DEFAULT_STEPS), 3)
    row.update(generation_ms=round(generation_ms, 1), steps=DEFAULT_STEPS, batch=args.batch,
               fingerprint_share_of_generation=row["fingerprint_ms"] / generation_ms)
    rows["reference DiT"] = row
    print(f"reference DiT: {row}")
    result = {"benchmark": "guard_overhead", "machine": machine_name("cpu"), "torch": torch.__version__,
              "statistic": f"median of {args.repeats} runs (generation: of 3)", "models": rows}
    path = write_json("guard_overhead_cpu", result)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
