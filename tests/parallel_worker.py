"""One rank of the context-parallel tests (tests/test_parallel.py starts two with gloo on the CPU).

Each rank runs every case twice: the single-process optimized module (before enable_parallelism, so
on the whole sequence) and the same module under diffusers' Ulysses context parallelism, and writes
the outputs' largest relative difference and both traces to rank<N>.json.
"""
from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager

import torch

STEPS = 10


@contextmanager
def cpu_device_count():
    """The one shim: diffusers 0.42.1's enable_parallelism takes the rank modulo
    torch.accelerator.device_count(), which is 0 on a machine with no accelerator (ZeroDivisionError);
    counted as 1 there, the CPU mesh and gloo do the rest."""
    count = torch.accelerator.device_count
    torch.accelerator.device_count = lambda: max(1, count())
    try:
        yield
    finally:
        torch.accelerator.device_count = count


def flux():
    from tests.zoo import flux_inputs, make_flux

    def inputs(t: float) -> dict:
        kw = flux_inputs(timestep=t)
        g = torch.Generator().manual_seed(3)  # 6 text tokens: Ulysses splits the sequence evenly
        kw.update(encoder_hidden_states=torch.randn(2, 6, 32, generator=g), txt_ids=torch.zeros(6, 3),
                  return_dict=False)  # as pipelines call it: the output gather hook takes tensors
        return kw
    return make_flux(), inputs, [1.0 - 0.09 * i for i in range(STEPS)]


def wan():
    from tests.coverage_zoo.part_e import make_wan, wan_inputs

    torch.manual_seed(0)
    return make_wan(), lambda t: wan_inputs(t, 0), [999.0 - 100 * i for i in range(STEPS)]


def configs():
    import xslim_compile as xs
    from xslim_compile.plan import ControllerSettings, Plan, PlanEntry, Variant

    fixed = ["full", "full", "skip", "block", "skip", "full", "block", "skip", "skip", "full"]
    entries = (PlanEntry(0.0, Variant.FULL), PlanEntry(3 / 9, Variant.BLOCK, (1,)),
               PlanEntry(5 / 9, Variant.FULL, estimator="taylor1"), PlanEntry(7 / 9, Variant.BLOCK, (0,)))
    online = ControllerSettings(0.02, 0.05, ((0.0, 1.0), (1.0, 1.0)), ((0.0, "block"),), first_full=2,
                                max_skips=2)
    return {
        "schedule": xs.XSlimConfig(schedule=fixed, block_reuse=[1]),
        "plan": xs.XSlimConfig(plan=Plan(0.1, 0.2, entries=entries, first_full=2, last_full=True,
                                         source={"num_steps": STEPS})),
        "online": xs.XSlimConfig(plan=Plan(0.02, 0.05, controller=online, source={"num_steps": STEPS}),
                                 block_reuse=[1]),
        "token": xs.XSlimConfig(schedule=["full", "full", "token", "skip", "token", "full"] + ["skip"] * 4,
                                token_ratio=0.5),
    }


def generate(opt, inputs, timesteps) -> list[torch.Tensor]:
    with opt.generation(num_steps=len(timesteps)), torch.no_grad():
        return [opt(**inputs(t))[0] for t in timesteps]  # return_dict=False: a tuple


def variants(trace) -> list[str]:
    return [record[1] for record in trace]


def run_case(model, inputs, timesteps, config, patch=None) -> tuple[list[torch.Tensor], list]:
    import xslim_compile as xs

    opt = xs.optimize(model, config)
    if patch is not None:
        patch(opt)
    outs = generate(opt, inputs, timesteps)
    return outs, [(r.step, r.variant, r.detail, r.reason, r.signals.get("indicator")) for r in opt.trace]


def run_family(family: str, rank: int, world: int, cases: tuple[str, ...]) -> dict:
    import xslim_compile as xs
    import xslim_compile.runtime.module as module
    from diffusers import ContextParallelConfig

    model, inputs, timesteps = {"flux": flux, "wan": wan}[family]()
    chosen = {name: config for name, config in configs().items() if name in cases}
    single = {name: run_case(model, inputs, timesteps, config) for name, config in chosen.items()}
    with cpu_device_count():
        model.enable_parallelism(config=ContextParallelConfig(ulysses_degree=world))
    results = {}
    for name, config in chosen.items():
        outs, trace = run_case(model, inputs, timesteps, config)
        want, want_trace = single[name]
        results[name] = {"rel_err": max(float((a - b).norm() / b.norm()) for a, b in zip(outs, want)),
                         "trace": trace, "single_trace": want_trace}

    # one rank's own indicator differs: the agreed (all-reduced) value gives one decision on every rank
    plain = module.relative_change

    def skew(opt):
        module.relative_change = (lambda a, b: plain(a, b) * 4.0) if rank == 1 else plain
    try:
        _, trace = run_case(model, inputs, timesteps, configs()["online"], patch=skew)
    finally:
        module.relative_change = plain
    results["skewed_indicator"] = {"trace": trace}

    # a NaN in one rank's cache shard: every rank runs that step full
    def poison(opt):
        def observe(info, key, state, latent):
            if rank == 1 and info.step == 3:
                name = next(n for n in state.caches if n.startswith("delta."))
                state.caches[name] = torch.full_like(state.caches[name], float("nan"))
                state.finite = torch.isfinite(state.caches[name]).all()  # what store() finds for a NaN
        opt.observers.append(observe)
    _, trace = run_case(model, inputs, timesteps, configs()["schedule"], patch=poison)
    results["nan_on_one_rank"] = {"trace": trace}

    # different plans on the two ranks: an error on every rank, before any variant (and its collectives) runs
    mixed = xs.XSlimConfig(schedule=["full"] * (STEPS - rank) + ["skip"] * rank)
    try:
        run_case(model, inputs, timesteps, mixed)
        results["mixed_plans"] = "ran"
    except xs.ConfigError as error:
        results["mixed_plans"] = str(error)
    return results


def main(rank: int, world: int, port: int, out_dir: str, families: dict[str, tuple[str, ...]]) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    try:
        results = {family: run_family(family, rank, world, cases) for family, cases in families.items()}
    finally:
        dist.destroy_process_group()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(results, f)


if __name__ == "__main__":  # python -m tests.parallel_worker flux: two ranks, results printed
    import tempfile

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as out:
        mp.start_processes(main, args=(2, 29533, out, {sys.argv[1]: tuple(configs())}), nprocs=2,
                           start_method="spawn")
        print(json.dumps(json.load(open(os.path.join(out, "rank0.json"))), indent=1))
