"""The Torch-TensorRT backend: optional, and unverified on the machines this project is built on
(TensorRT cannot be installed there). Raises a clear error when torch_tensorrt is missing."""
from __future__ import annotations

from typing import Callable

import torch
from torch import fx

from ..errors import LoweringError


def lower_tensorrt(gm: fx.GraphModule) -> Callable:
    try:
        import torch_tensorrt  # noqa: F401  (registers the "tensorrt" torch.compile backend)
    except ImportError as e:
        raise LoweringError("backend='tensorrt' needs the torch_tensorrt package (and TensorRT libraries), "
                            "which is not installed; use backend='inductor', or install "
                            "`xslim-compile[tensorrt]` on a machine with TensorRT and CUDA") from e
    if not torch.cuda.is_available():
        raise LoweringError("backend='tensorrt' needs a CUDA device, and none is available; use backend='inductor'")
    return torch.compile(gm, backend="tensorrt", fullgraph=True, dynamic=False)
