"""Offline image-quality metrics: PSNR, SSIM, Fréchet distance, KID, class accuracy, paired class
agreement, and bootstrap standard errors.

Images are uint8 arrays [N, H, W] (grayscale); features are float arrays [N, D].
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB (peak 255); identical images give inf."""
    diff = a.astype(np.float64) - b.astype(np.float64)
    mse = (diff ** 2).reshape(len(a), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0 ** 2 / mse)


def _gaussian_window(size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a: np.ndarray, b: np.ndarray, window: int = 7) -> np.ndarray:
    """Per-image SSIM (Wang et al. 2004), Gaussian window (7 for 28-pixel images), valid region only."""
    x = torch.from_numpy(a.astype(np.float64))[:, None]
    y = torch.from_numpy(b.astype(np.float64))[:, None]
    w = _gaussian_window(window)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    conv = lambda t: torch.nn.functional.conv2d(t, w)  # noqa: E731
    mx, my = conv(x), conv(y)
    vx, vy, cxy = conv(x * x) - mx ** 2, conv(y * y) - my ** 2, conv(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).numpy()


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = features.astype(np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    from scipy import linalg

    diff = mu1 - mu2
    covmean = linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(cov1)) * 1e-6
        covmean = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    covmean = covmean.real
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))


def kid(features_a: np.ndarray, features_b: np.ndarray, subsets: int = 50, subset_size: int = 500,
        seed: int = 0) -> float:
    """Kernel Inception Distance (unbiased MMD², cubic polynomial kernel), averaged over subsets."""
    rng = np.random.default_rng(seed)
    a, b = features_a.astype(np.float64), features_b.astype(np.float64)
    m = min(subset_size, len(a), len(b))
    d = a.shape[1]
    total = 0.0
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        total += ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                  - 2 * kxy.mean())
    return float(total / subsets)


def class_accuracy(predicted: np.ndarray, wanted: np.ndarray) -> float:
    return float((np.asarray(predicted) == np.asarray(wanted)).mean())


def paired_agreement(predicted: np.ndarray, reference_predicted: np.ndarray) -> np.ndarray:
    """Per seed: 1.0 where the sample is classified as the same class as the full-compute sample of
    the same seed (a fidelity measure that, unlike accuracy, does not reward drifting to a
    better-classified image)."""
    a, b = np.asarray(predicted), np.asarray(reference_predicted)
    if a.shape != b.shape:
        raise ValueError(f"paired predictions differ in shape: {a.shape} vs {b.shape}")
    return (a == b).astype(np.float64)


def bootstrap_se(statistic: Callable[[np.ndarray], float], n: int, draws: int = 100, seed: int = 0) -> float:
    """Standard error of `statistic(indices)` over `draws` resamples of range(n) with replacement."""
    if n < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n, n)) for _ in range(draws)]
    return float(np.std(values, ddof=1))


def mean_se(values: np.ndarray, draws: int = 100, seed: int = 0) -> float:
    """Bootstrap standard error of the mean of per-sample values."""
    v = np.asarray(values, dtype=np.float64)
    return bootstrap_se(lambda idx: float(v[idx].mean()), len(v), draws, seed)


def frechet_distance_se(features: np.ndarray, mu_ref: np.ndarray, cov_ref: np.ndarray, draws: int = 100,
                        seed: int = 0) -> float:
    """Bootstrap standard error of the Fréchet distance of the generated features to fixed reference
    statistics: the generated set is resampled, the reference (the test set) is not."""
    f = features.astype(np.float64)

    def fd(idx: np.ndarray) -> float:
        mu, cov = feature_stats(f[idx])
        return frechet_distance(mu, cov, mu_ref, cov_ref)

    return bootstrap_se(fd, len(f), draws, seed)
