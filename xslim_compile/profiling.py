"""Profiling for calibration: full-compute generations recorded step by step, and sensitivity probes.

What a profile holds, per run (one generation of one CFG branch):
- Δ_t, the stack residual of every step, subsampled on a fixed set of channels (all rows and tokens,
  so that token scores stay computable) to at most SAMPLE_ELEMENTS values per step;
- every block's residual at each step on a fixed random subset of BLOCK_SAMPLE elements (the error a
  block refresh makes by reusing them);
- the latent of the run's last call, and the final samples themselves where the run returns them
  (`run(module)` or the pipeline returning a tensor or array, or an output whose `images`/`frames` is
  one): then x_final is what the run returned, else the last call's latent.

Sensitivity: the effect of a step's approximation on the final sample, measured. A probe run is a
full-compute run that skips one step p (reusing Δ_{p−1}); s_p = mean|x'_final − x_final| /
mean|Δ_{p−1} − Δ_p| over the runs. Probes at a few steps, interpolated log-linearly in between,
give the weight of each step's residual error in the final sample. The last step is probed, and
planned like the others, only where the final samples are observed: its effect never reaches the
denoiser's own inputs (with DDIM's ᾱ → 1 it barely moves the sample; on a flow schedule it is a
whole Euler step), so unobserved it stays full.
"""
from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from .config import XSlimConfig
from .errors import ConfigError
from .plan import Variant
from .runtime.controller import Decision, ScheduleController, StepInfo
from .runtime.policies import relative_change

logger = logging.getLogger(__name__)
SAMPLE_ELEMENTS = 2 ** 16   # Δ values kept per step and run
BLOCK_SAMPLE = 2 ** 12      # block-residual values kept per block, step and run
FIRST_FULL = 3              # steps every plan computes in full at the start (TaylorSeer warms up as long)


@dataclass
class RunRecord:
    branch: str
    deltas: list[torch.Tensor] = field(default_factory=list)     # per step: [rows, tokens, channels'] float32
    residuals: list[torch.Tensor] = field(default_factory=list)  # per step: [blocks, BLOCK_SAMPLE] float32
    latent_change: list[torch.Tensor] = field(default_factory=list)  # per step: relative change of the latent
    output_change: list[torch.Tensor] = field(default_factory=list)  # per step: relative change of the output
    last_output: torch.Tensor | None = None
    final: torch.Tensor | None = None                             # the last call's latent


@dataclass
class Profile:
    """Everything calibration measured; planning reads only this."""

    num_steps: int
    runs: list[RunRecord]
    model: nn.Module
    variants: object                     # the VariantSet the profiling module built (for measured costs)
    sampler: str
    energies: list[list[float]]          # per step: mean block energies (accumulated-residual rule)
    probes: list[tuple[int, float]] = field(default_factory=list)   # measured (step, sensitivity)
    sensitivity: list[float] = field(default_factory=list)          # per step, interpolated
    module: object | None = None         # the profiling OptimizedDenoiser (reused by probes and timing)
    replay: tuple = (None, None, None)   # (target, inputs, run) that make the profiled generations again
    outputs: list[torch.Tensor] | None = None   # the final samples the run returned (None: not observed)

    @property
    def final_scale(self) -> float:
        """mean |x_final| over the runs: the unit of relative final errors."""
        if self.outputs is not None:
            return sum(float(o.abs().mean()) for o in self.outputs) / len(self.outputs)
        return sum(float(r.final.abs().mean()) for r in self.runs) / len(self.runs)

    @property
    def plans_last_step(self) -> bool:
        """Whether the last step's effect was measured (see the module docstring)."""
        return self.outputs is not None

    def final_error(self, recorder: "_Recorder", outputs: list[torch.Tensor] | None, what: str) -> float:
        """mean |x_final − x_final(profile)| of a replay of the profiled generations."""
        if self.outputs is not None:
            if outputs is None or len(outputs) != len(self.outputs):
                raise ConfigError(f"a {what} run returned other final samples than the profiling run; calibrate() "
                                  "needs a run that does the same thing every time")
            return sum(float((a - b).abs().mean()) for a, b in zip(outputs, self.outputs)) / len(self.outputs)
        finals = [r.final for r in recorder.runs if r.final is not None][-len(self.runs):]
        if len(finals) < len(self.runs):
            raise ConfigError(f"a {what} run made fewer generations than the profiling run; calibrate() needs a "
                              "run that does the same thing every time")
        return sum(float((a - r.final).abs().mean()) for a, r in zip(finals, self.runs)) / len(self.runs)


class _AllFull(ScheduleController):
    """Every step full with block residuals (what the profile records); optionally one probe skip."""

    def __init__(self, probe: int | None = None) -> None:
        super().__init__(None)
        self.probe = probe

    def decide(self, step: StepInfo) -> Decision:
        if step.step == self.probe:
            return Decision(Variant.SKIP, f"sensitivity probe at step {self.probe}", estimator="reuse")
        return Decision(Variant.FULL, "profiling")

    def may_follow(self, step: StepInfo) -> frozenset[Variant]:
        return frozenset({Variant.BLOCK, Variant.SKIP})


class _Recorder:
    """Observer of the profiling module: keeps each run's subsampled residuals on the device."""

    def __init__(self, slot: str, num_blocks: int, full: bool = True) -> None:
        self.slot, self.num_blocks, self.full = slot, num_blocks, full
        self.runs: list[RunRecord] = []
        self.current: dict[str, RunRecord] = {}
        self.channels: torch.Tensor | None = None
        self.elements: torch.Tensor | None = None

    def __call__(self, info, key, state, latent, output=None) -> None:
        if info.step == 0 or info.branch not in self.current:
            self.current[info.branch] = RunRecord(info.branch)
            self.runs.append(self.current[info.branch])
        run = self.current[info.branch]
        previous, run.final = run.final, latent.detach().float().clone()
        if not self.full:
            return
        zero = torch.zeros((), device=latent.device)
        run.latent_change.append(relative_change(run.final, previous) if previous is not None else zero)
        if output is not None:
            output = output.detach().float().clone()
            run.output_change.append(relative_change(output, run.last_output) if run.last_output is not None else zero)
            run.last_output = output
        delta = state.caches[f"delta.{self.slot}"].detach().float()
        delta = delta.reshape(delta.shape[0], -1, delta.shape[-1]) if delta.dim() >= 3 else delta.reshape(-1, 1, 1)
        if self.channels is None:  # fixed once, so that every step and run sees the same values
            rows, tokens, width = delta.shape
            keep = max(1, min(width, SAMPLE_ELEMENTS // max(1, rows * tokens)))
            g = torch.Generator().manual_seed(0)
            self.channels = torch.randperm(width, generator=g)[:keep].sort().values.to(delta.device)
        run.deltas.append(delta.index_select(-1, self.channels).clone())
        blocks = [state.caches.get(f"residual.{l}.{self.slot}") for l in range(self.num_blocks)]
        present = next(b for b in blocks if b is not None)
        if self.elements is None:
            g = torch.Generator().manual_seed(1)
            count = min(present.numel(), BLOCK_SAMPLE)
            self.elements = torch.randperm(present.numel(), generator=g)[:count].to(present.device)
        run.residuals.append(torch.stack([
            (b if b is not None else torch.zeros_like(present)).detach().reshape(-1).index_select(0, self.elements).float()
            for b in blocks]))


@contextmanager
def _swapped(pipe, module):
    original = pipe.transformer
    pipe.transformer = module
    try:
        yield
    finally:
        pipe.transformer = original


def run_generations(target, module, inputs: Sequence[dict] | None, run: Callable | None, progress: bool,
                    desc: str) -> list[torch.Tensor] | None:
    """The calibration's own generations, through `module`: run(module), or the pipeline on each input.
    Returns the final samples they returned (None where any is not a tensor or array)."""
    if run is not None:
        final = final_sample(run(module))
        return None if final is None else [final]
    if not inputs:
        raise ConfigError("calibrate() needs inputs=[pipeline call kwargs, ...] for a pipeline, or run=")
    from tqdm import tqdm

    finals = []
    with _swapped(target, module):
        for kwargs in tqdm(inputs, desc=desc, disable=not progress):
            finals.append(final_sample(target(**kwargs)))
    return None if any(f is None for f in finals) else finals


def final_sample(result) -> torch.Tensor | None:
    """A generation's final sample as a float tensor: a tensor or array, a pipeline output's images or
    frames, or the first element of a tuple; None for anything else (PIL images, None)."""
    if isinstance(result, tuple) and result:  # return_dict=False: (images, ...)
        result = result[0]
    for name in ("images", "frames"):
        result = getattr(result, name, result)
    if isinstance(result, torch.Tensor) and result.is_floating_point():
        return result.detach().float().clone()
    if type(result).__module__ == "numpy" and getattr(result, "dtype", None) is not None and result.dtype.kind == "f":
        return torch.from_numpy(result).float().clone()
    return None


def record_profile(target, inputs: Sequence[dict] | None = None, run: Callable | None = None,
                   progress: bool = True) -> Profile:
    """Full-compute generations through a recording module."""
    from .api import optimize

    model = target.transformer if hasattr(target, "transformer") else target
    opt = optimize(model, XSlimConfig(check_finite=False), controller=_AllFull())
    recorder = _Recorder("", 0)
    opt.observers.append(_bind_recorder(opt, recorder))
    outputs = run_generations(target, opt, inputs, run, progress, "calibrate")
    runs = [r for r in recorder.runs if len(r.deltas) >= 2]
    if not runs:
        raise ConfigError("the calibration run made fewer than two denoising calls per branch")
    steps = max(len(r.deltas) for r in runs)
    runs = [r for r in runs if len(r.deltas) == steps]  # generations of other lengths would misalign
    variants = next(iter(opt._variant_sets.values()))
    energies = [torch.stack([r.residuals[t].abs().mean(dim=1) for r in runs]).mean(dim=0).tolist()
                for t in range(steps)]
    sampler = type(getattr(target, "scheduler", None)).__name__ if hasattr(target, "scheduler") else "custom"
    return Profile(steps, runs, model, variants, sampler, energies, module=opt, replay=(target, inputs, run),
                   outputs=outputs)


def _bind_recorder(opt, recorder: _Recorder):
    """Learn the stream slot and block count from the first call's variant set, then record."""
    def observe(info, key, state, latent):
        if not recorder.slot:
            spec = next(iter(opt._variant_sets.values())).stack
            recorder.slot, recorder.num_blocks = spec.slots[spec.read_slots[0]], spec.num_blocks
        outputs = [o for o in opt.last_outputs if isinstance(o, torch.Tensor) and o.is_floating_point()]
        recorder(info, key, state, latent, outputs[0] if outputs else None)
    return observe


def profile(target, inputs: Sequence[dict] | None = None, run: Callable | None = None, sensitivity_probes: int = 6,
            progress: bool = True) -> Profile:
    """Profile a denoiser (or a pipeline's transformer) for calibrate(profile=...): several plans from
    one profile cost one set of generations. The run must be deterministic (seeded)."""
    measured = record_profile(target, inputs, run, progress)
    measure_sensitivity(measured, sensitivity_probes)
    return measured


def probe_steps(num_steps: int, probes: int, last: bool = False) -> list[int]:
    """Steps to probe: spread evenly over the steps a plan may skip (after the first full ones, before
    the last), and the last step itself where its effect is observed."""
    low, high = min(FIRST_FULL, num_steps - 1), num_steps - 2
    if probes <= 0 or high < low:
        return []
    count = min(probes, high - low + 1)
    spread = {round(low + (k + 0.5) * (high - low + 1) / count - 0.5) for k in range(count)}
    return sorted(spread | ({num_steps - 1} if last else set()))


def measure_sensitivity(profile: Profile, probes: int) -> None:
    """Fill profile.probes and profile.sensitivity (see the module docstring)."""
    opt, T = profile.module, profile.num_steps
    target, inputs, run = profile.replay
    measured = []
    for p in probe_steps(T, probes, last=profile.plans_last_step):
        opt.controller = _AllFull(probe=p)
        recorder = _Recorder("", 0, full=False)
        opt.observers[:] = [recorder]
        outputs = run_generations(target, opt, inputs, run, False, f"sensitivity probe {p}")
        moved = profile.final_error(recorder, outputs, "sensitivity probe")
        step_error = sum(float((r.deltas[p - 1] - r.deltas[p]).abs().mean()) for r in profile.runs) / len(profile.runs)
        measured.append((p, moved / max(step_error, 1e-30)))
        logger.info("sensitivity at step %d: %.4g", p, measured[-1][1])
    opt.controller = _AllFull()
    opt.observers.clear()
    profile.probes = measured
    profile.sensitivity = interpolate_log(measured, T)


def measure_plan_error(profile: Profile, plan) -> float:
    """Run a plan on the calibration's own inputs and return the mean |x_final − x_final(full)| over
    the runs: the realized error that calibration chooses candidate plans by. The profiling module's
    captured variants are shared (no new capture)."""
    from .api import optimize

    opt = optimize(profile.model, XSlimConfig(plan=plan, check_finite=False))
    opt._variant_sets = profile.module._variant_sets
    recorder = _Recorder("", 0, full=False)
    opt.observers.append(recorder)
    target, inputs, run = profile.replay
    outputs = run_generations(target, opt, inputs, run, False, "validate plan")
    return profile.final_error(recorder, outputs, "validation")


def interpolate_log(points: Sequence[tuple[int, float]], num_steps: int) -> list[float]:
    """Per-step values from (step, value) points: log-linear in between, constant beyond the ends;
    all ones without points (every step weighs the same)."""
    if not points:
        return [1.0] * num_steps
    floor = max(v for _, v in points) * 1e-6
    logs = [(s, math.log(max(v, floor))) for s, v in points]
    out = []
    for t in range(num_steps):
        if t <= logs[0][0]:
            out.append(math.exp(logs[0][1]))
        elif t >= logs[-1][0]:
            out.append(math.exp(logs[-1][1]))
        else:
            i = next(k for k in range(1, len(logs)) if logs[k][0] >= t)
            (s0, v0), (s1, v1) = logs[i - 1], logs[i]
            out.append(math.exp(v0 + (v1 - v0) * (t - s0) / (s1 - s0)))
    return out


def indicator_correlations(profile: Profile) -> dict[str, float]:
    """Pearson correlation, over steps >= 2 of every run, of candidate online indicators with the
    measured err_t = ‖Δ_t − Δ_{t−1}‖₁ / ‖Δ_{t−1}‖₁:
    - latent: the latent's relative change (free: computed from the input, read with the call's read);
    - easycache: k · latent change with k = output change / latent change of the previous step
      (EasyCache's transformation rate; free, from the last computed step's output);
    - first_block: the first block's residual's relative change (FBCache's; costs that block)."""
    err, latent, easy, first = [], [], [], []
    for r in profile.runs:
        for t in range(2, len(r.deltas)):
            err.append(float(relative_change(r.deltas[t], r.deltas[t - 1])))
            latent.append(float(r.latent_change[t]))
            if len(r.output_change) > t:
                k = float(r.output_change[t - 1]) / max(float(r.latent_change[t - 1]), 1e-12)
                easy.append(k * latent[-1])
            first.append(float(relative_change(r.residuals[t][0], r.residuals[t - 1][0])))
    out = {"latent": _pearson(latent, err), "first_block": _pearson(first, err)}
    if len(easy) == len(err):
        out["easycache"] = _pearson(easy, err)
    return out


def _pearson(a: Sequence[float], b: Sequence[float]) -> float:
    x, y = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(((x - x.mean()) * (y - y.mean())).mean() / (x.std(unbiased=False) * y.std(unbiased=False)))
