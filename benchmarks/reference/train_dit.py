"""Train the reference DiT on Fashion-MNIST, resumably: `python -m benchmarks.reference.train_dit`.

Each run trains for --minutes, checkpointing every --checkpoint-minutes: the full state (fp32 weights,
EMA, optimiser) goes to the ignored state/ folder, the EMA weights as fp16 safetensors to weights/
(committed, overwritten in place) with the step count and the measured class accuracy as metadata, and
one line per checkpoint to train_log.jsonl. A run resumes from state/ when present, otherwise from the
committed weights (EMA taken as the starting point, optimiser restarted with a warm-up).
"""
from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from ..common import machine_name
from .data import load_fashion_mnist, to_model_space
from .model import HERE, NULL_CLASS, NUM_CLASSES, WEIGHTS, build_dit, load_dit, read_metadata, train_scheduler
from .sampler import DEFAULT_GUIDANCE

STATE = HERE / "state" / "train_state.pt"
LOG = HERE / "train_log.jsonl"


def ema_decay(step: int, cap: float) -> float:
    # warm-up: early in training the EMA follows the model closely, or the random init dominates it
    return min(cap, (1 + step) / (10 + step))


@torch.no_grad()
def measure_class_accuracy(model, samples_per_class: int, num_steps: int, batch: int = 500) -> float | None:
    from .classifier import CLASSIFIER_WEIGHTS, classify, load_classifier
    from .data import to_pixel_space
    from .sampler import sample

    if not CLASSIFIER_WEIGHTS.is_file():
        return None
    labels = [c for c in range(NUM_CLASSES) for _ in range(samples_per_class)]
    seeds = list(range(10_000, 10_000 + len(labels)))
    images = np.concatenate([to_pixel_space(sample(model, labels[i:i + batch], seeds[i:i + batch], num_steps))
                             for i in range(0, len(labels), batch)])
    pred, _ = classify(load_classifier(), images)
    return float((pred.numpy() == np.array(labels)).mean())


def load_start(lr: float, fresh: bool, device: torch.device):
    model = build_dit().to(device)
    step = 0
    if fresh:
        ema = copy.deepcopy(model)
        return model, ema, make_optimizer(model, lr), 0, 0
    if STATE.is_file():
        state = torch.load(STATE, map_location=device)
        model.load_state_dict(state["model"])
        ema = copy.deepcopy(model)
        ema.load_state_dict(state["ema"])
        opt = make_optimizer(model, lr)
        opt.load_state_dict(state["opt"])
        return model, ema, opt, state["step"], 0
    if WEIGHTS.is_file():
        model.load_state_dict(load_dit().state_dict())
        step = int(read_metadata().get("step", 0))
    ema = copy.deepcopy(model)
    return model, ema, make_optimizer(model, lr), step, step


def make_optimizer(model, lr: float) -> torch.optim.Optimizer:
    fused = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, fused=fused or None)


def save_checkpoint(model, ema, opt, step: int, args, elapsed_min: float) -> dict:
    STATE.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step},
               STATE)
    ema.eval()
    accuracy = measure_class_accuracy(ema, args.eval_per_class, args.eval_steps)
    record = {"step": step, "class_accuracy": accuracy, "eval_samples": args.eval_per_class * NUM_CLASSES,
              "eval_ddim_steps": args.eval_steps, "guidance": DEFAULT_GUIDANCE,
              "run_minutes": round(elapsed_min, 1), "lr": args.lr, "batch": args.batch_size,
              "init": "dit-adaln-zero", "device": machine_name(args.device),
              "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in ema.state_dict().items()}
    save_file(state, str(WEIGHTS), metadata={"xslim": json.dumps(record)})
    with open(LOG, "a") as f:
        f.write(json.dumps(record) + "\n")
    return record


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--checkpoint-minutes", type=float, default=20.0)
    parser.add_argument("--batch-size", type=int, default=48)
    parser.add_argument("--lr", type=float, default=6e-4)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--ema-cap", type=float, default=0.999)
    parser.add_argument("--eval-per-class", type=int, default=10)
    parser.add_argument("--eval-steps", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="e.g. cuda: the same recipe, many more steps a minute")
    parser.add_argument("--fresh", action="store_true", help="start from a new initialisation, not a checkpoint")
    # bf16 autocast ran 12x slower than fp32 on this machine's CPUs (no native bf16): off by default
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--log-every", type=int, default=1, help="steps between loss reads (each one syncs)")
    parser.add_argument("--evaluate", action="store_true",
                        help="only measure the committed weights' class accuracy (guidance: REFERENCE_GUIDANCE)")
    args = parser.parse_args(argv)
    if args.evaluate:
        accuracy = measure_class_accuracy(load_dit().to(args.device), args.eval_per_class, args.eval_steps)
        print(json.dumps({"step": read_metadata().get("step"), "class_accuracy": accuracy, "guidance": DEFAULT_GUIDANCE,
                          "eval_samples": args.eval_per_class * NUM_CLASSES, "eval_ddim_steps": args.eval_steps}))
        return

    torch.set_num_threads(args.threads)
    images, labels = load_fashion_mnist("train")
    device = torch.device(args.device)
    x_all, y_all = to_model_space(images).to(device), torch.from_numpy(labels).to(device)
    model, ema, opt, step, warm_from = load_start(args.lr, args.fresh, device)
    ema.requires_grad_(False)
    noise_sched = train_scheduler()
    alphas = noise_sched.alphas_cumprod.float().to(device)
    rng = torch.Generator(device).manual_seed(1234 + step)
    start = last_ckpt = time.time()
    bar = tqdm(desc="dit", unit="step", initial=step)
    model.train()
    while time.time() - start < args.minutes * 60:
        idx = torch.randint(0, len(x_all), (args.batch_size,), generator=rng, device=device)
        x0, y = x_all[idx], y_all[idx].clone()
        y[torch.rand(len(y), generator=rng, device=device) < 0.1] = NULL_CLASS  # label drop, for CFG
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (len(x0),), generator=rng, device=device)
        noise = torch.randn(x0.shape, generator=rng, device=device)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        for g in opt.param_groups:
            g["lr"] = args.lr * min(1.0, (step - warm_from + 1) / args.warmup)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            pred = model(xt, timestep=t, class_labels=y).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        with torch.no_grad():
            d = ema_decay(step, args.ema_cap)
            torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - d)
        bar.update(1)
        if step % args.log_every == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if time.time() - last_ckpt > args.checkpoint_minutes * 60:
            record = save_checkpoint(model, ema, opt, step, args, (time.time() - start) / 60)
            bar.write(json.dumps(record))
            model.train()
            last_ckpt = time.time()
    bar.close()
    print(json.dumps(save_checkpoint(model, ema, opt, step, args, (time.time() - start) / 60)))


if __name__ == "__main__":
    main()
