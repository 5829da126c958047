"""The one place the runtime reads device values on the host (each call is one device sync)."""
from __future__ import annotations

from typing import Sequence

import torch

from . import ranks

reads = 0  # how many host reads happened (tests count synchronisations with it)
FLAGS = ("finite", "history_finite")  # 1.0 when finite: across ranks the minimum counts


def read_values(values: Sequence[torch.Tensor], group=None, lowest: Sequence[bool] = ()) -> list[float]:
    """Read several device scalars / 1-d tensors in one transfer; returns them flattened. With a
    process group (context parallelism) the values are first agreed across ranks (ranks.agree; the
    values flagged in `lowest` take the minimum over ranks, the others the maximum)."""
    global reads
    reads += 1
    # gather on one device first (e.g. a CPU timestep beside CUDA caches), then a single transfer
    device = next((v.device for v in values if v.device.type != "cpu"), torch.device("cpu"))
    flat = torch.cat([v.detach().reshape(-1).to(device=device, dtype=torch.float32) for v in values])
    if group is not None:
        mask = torch.cat([torch.full((v.numel(),), bool(low), device=device)
                          for v, low in zip(values, list(lowest) + [False] * len(values))])
        flat = ranks.agree(flat, mask, group)
    return flat.tolist()


def read_for_call(state, wanted: dict[str, torch.Tensor], config, need_energies: bool = True, group=None) -> dict:
    """A call's one host read: the wanted device values plus, since a read happens anyway, the
    branch's cache finiteness (config.check_finite) and the block energies the automatic block rule
    may need (stored on the state). Returns the values by name, and "read": whether a read happened."""
    wanted = dict(wanted)
    if state.finite is not None and config.check_finite:
        wanted["finite"] = state.finite.reshape(1)
        if state.history_finite is not None:
            wanted["history_finite"] = state.history_finite.reshape(1)
    energies = state.caches.get("block_energy")
    if (energies is not None and state.energies is None and state.reuse is None and need_energies
            and config.block_reuse is None):
        wanted["energies"] = energies
    if not wanted:
        return {"read": 0.0}
    flat = read_values(list(wanted.values()), group, [name in FLAGS for name in wanted])
    out, at = {"read": 1.0}, 0
    for name, value in wanted.items():
        size = value.numel()
        out[name] = tuple(flat[at:at + size]) if name in ("energies", "schedule") else flat[at]
        at += size
    if "energies" in out:
        state.energies = out.pop("energies")
    return out
