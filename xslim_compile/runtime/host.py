"""The one place the runtime reads device values on the host (each call is one device sync)."""
from __future__ import annotations

from typing import Sequence

import torch

reads = 0  # how many host reads happened (tests count synchronisations with it)


def read_values(values: Sequence[torch.Tensor]) -> list[float]:
    """Read several device scalars / 1-d tensors in one transfer; returns them flattened."""
    global reads
    reads += 1
    # gather on one device first (e.g. a CPU timestep beside CUDA caches), then a single transfer
    device = next((v.device for v in values if v.device.type != "cpu"), torch.device("cpu"))
    flat = torch.cat([v.detach().reshape(-1).to(device=device, dtype=torch.float32) for v in values])
    return flat.tolist()
