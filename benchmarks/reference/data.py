"""Fashion-MNIST from the Debian package `dataset-fashion-mnist` (IDX files, gzip)."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

DEFAULT_ROOT = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class DatasetMissingError(FileNotFoundError):
    """The IDX files are not where the loader looked."""


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(split: str = "train", root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 [N, 28, 28], labels int64 [N]) of one split."""
    if split not in _FILES:
        raise ValueError(f"split must be one of {sorted(_FILES)}, got {split!r}")
    root = Path(root) if root is not None else DEFAULT_ROOT
    image_file, label_file = (root / name for name in _FILES[split])
    missing = [str(p) for p in (image_file, label_file) if not p.is_file()]
    if missing:
        raise DatasetMissingError(
            f"Fashion-MNIST files not found: {', '.join(missing)}. Install them with "
            f"`sudo apt-get install dataset-fashion-mnist` (Debian), or point FASHION_MNIST_DIR "
            f"(or root=) at a folder holding {', '.join(_FILES[split])}."
        )
    return _read_idx(image_file), _read_idx(label_file).astype(np.int64)


def to_model_space(images: np.ndarray):
    """uint8 [N, 28, 28] -> float32 tensor [N, 1, 32, 32] in [-1, 1], zero-padded (background is -1)."""
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)
    return torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0).unsqueeze(1)


def to_pixel_space(x) -> np.ndarray:
    """float tensor [N, 1, 32, 32] in [-1, 1] -> uint8 [N, 28, 28] (crop the padding)."""
    x = x[:, 0, 2:30, 2:30].float().clamp(-1, 1)
    return ((x + 1.0) * 127.5).round().to(torch.uint8).cpu().numpy()
