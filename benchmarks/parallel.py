"""X-Slim under diffusers' context parallelism (Ulysses), one process per rank:

    torchrun --nproc-per-node 2 -m benchmarks.parallel              # tiny FLUX and Wan, gloo on the CPU
    torchrun --nproc-per-node 2 -m benchmarks.parallel --family wan

Each rank runs a 10-step generation per case twice, single-process (before enable_parallelism) and
context-parallel, and rank 0 prints, per case, the largest relative difference of the outputs on
every rank and whether all ranks ran the same variants. Only gloo on CPUs has been run: NCCL and
ring attention need several GPUs, which these machines never had.
"""
from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist


def main(argv=None) -> None:
    from tests.parallel_worker import configs, run_family

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=("flux", "wan"), nargs="+", default=["flux", "wan"])
    args = parser.parse_args(argv)
    if "RANK" not in os.environ:
        raise SystemExit("start it with torchrun, e.g. torchrun --nproc-per-node 2 -m benchmarks.parallel")
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    torch.set_grad_enabled(False)
    try:
        for family in args.family:
            results = run_family(family, rank, world, tuple(configs()))
            gathered = [None] * world
            dist.all_gather_object(gathered, results)
            if rank == 0:
                _report(family, gathered)
    finally:
        dist.destroy_process_group()


def _report(family: str, ranks: list[dict]) -> None:
    from tests.parallel_worker import variants

    print(f"\n{family}: {len(ranks)} ranks, Ulysses degree {len(ranks)}")
    for case, result in ranks[0].items():
        if not isinstance(result, dict):
            print(f"  {case:18s} {result[:100]}")
            continue
        same = all(r[case]["trace"] == result["trace"] for r in ranks)
        err = max(r[case].get("rel_err", 0.0) for r in ranks)
        if "single_trace" not in result:
            versus = ""
        elif variants(result["single_trace"]) == variants(result["trace"]):
            versus = f"same variants as one process, max rel. err {err:.1e}"
        else:
            versus = f"one process ran {' '.join(variants(result['single_trace']))}"
        print(f"  {case:18s} ranks agree: {same}  {' '.join(variants(result['trace']))}  {versus}")


if __name__ == "__main__":
    main()
