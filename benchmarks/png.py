"""A minimal grayscale PNG writer (no imaging dependency) and image-grid assembly."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 [H, W] array as an 8-bit grayscale PNG."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


def grid(images: np.ndarray, columns: int, pad: int = 2, scale: int = 2) -> np.ndarray:
    """Tile uint8 [N, h, w] images into rows of `columns`, with white padding, upscaled by `scale`."""
    n, h, w = images.shape
    rows = -(-n // columns)
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = image
    return np.kron(out, np.ones((scale, scale), dtype=np.uint8))
