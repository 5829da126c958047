"""The reference model's pieces: data loader, weights, sampler, metrics, PNG writer."""
import gzip
import struct
import zlib

import numpy as np
import pytest
import torch

import xslim_compile as xs
from benchmarks.metrics import class_accuracy, feature_stats, frechet_distance, kid, psnr, ssim
from benchmarks.png import grid, write_png
from benchmarks.reference.data import DatasetMissingError, load_fashion_mnist, to_model_space, to_pixel_space


def _write_idx(path, array: np.ndarray, code: int = 0x08):
    header = struct.pack(">I", (code << 8) | array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_loader_error_names_the_apt_package(tmp_path):
    with pytest.raises(DatasetMissingError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("train", root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist("validation", root=tmp_path)


def test_loader_reads_idx_files(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    got_images, got_labels = load_fashion_mnist("test", root=tmp_path)
    assert np.array_equal(got_images, images) and got_labels.tolist() == [3, 1, 4, 1, 5]
    x = to_model_space(got_images)
    assert x.shape == (5, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert np.array_equal(to_pixel_space(x), images)  # padding removed, values round-trip


@pytest.fixture(scope="module")
def reference_dit():
    from benchmarks.reference.model import load_dit

    return load_dit()


def test_weights_load_with_training_metadata(reference_dit):
    from benchmarks.reference.model import DIT_CONFIG, WEIGHTS, read_metadata

    assert WEIGHTS.stat().st_size <= 10 * 2 ** 20
    assert reference_dit.config.num_layers == DIT_CONFIG["num_layers"] >= 12
    assert reference_dit.config.sample_size == 32 and reference_dit.config.patch_size == 2  # 256 tokens
    meta = read_metadata()
    assert meta["step"] > 0 and "class_accuracy" in meta


def test_classifier_loads_and_classifies():
    from benchmarks.reference.classifier import FEATURE_DIM, classify, load_classifier

    labels, feats = classify(load_classifier(), np.zeros((3, 28, 28), dtype=np.uint8))
    assert labels.shape == (3,) and feats.shape == (3, FEATURE_DIM)


def test_sampler_is_deterministic_per_seed_and_takes_an_optimized_module(reference_dit):
    from benchmarks.reference.sampler import sample

    both = sample(reference_dit, [0, 7], [11, 12], num_steps=3)
    alone = sample(reference_dit, [7], [12], num_steps=3)
    assert both.shape == (2, 1, 32, 32) and torch.isfinite(both).all()
    assert torch.allclose(both[1], alone[0], atol=1e-4)  # a sample depends on its seed, not its batch
    opt = xs.optimize(reference_dit, xs.XSlimConfig(schedule=["full", "skip", "full"]))
    fast = sample(opt, [0, 7], [11, 12], num_steps=3)
    assert [r.step for r in opt.trace] == [0, 1, 2] and opt.trace.variants() == ["full", "skip", "full"]
    assert torch.isfinite(fast).all() and not torch.equal(fast, both)


def test_psnr_and_ssim():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (4, 28, 28)).astype(np.uint8)
    assert np.isinf(psnr(a, a)).all()
    assert np.allclose(ssim(a, a), 1.0)
    noisy = np.clip(a + rng.normal(0, 10, a.shape), 0, 255).astype(np.uint8)
    noisier = np.clip(a + rng.normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    assert (psnr(noisy, a) > psnr(noisier, a)).all() and (psnr(noisy, a) > 20).all()
    assert (ssim(noisy, a) > ssim(noisier, a)).all()


def test_frechet_distance_and_kid():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 8))
    y = rng.normal(size=(2000, 8))
    shifted = y + 0.5
    mu, cov = feature_stats(x)
    assert abs(frechet_distance(mu, cov, mu, cov)) < 1e-6
    fd_same = frechet_distance(*feature_stats(y), mu, cov)
    fd_shift = frechet_distance(*feature_stats(shifted), mu, cov)
    assert fd_same < 0.05 and fd_shift > 8 * 0.25 * 0.9  # |Δμ|² = 8 × 0.5²
    assert abs(kid(x, y, subsets=10, subset_size=200)) < 0.02
    assert kid(x, shifted, subsets=10, subset_size=200) > 0.05
    assert class_accuracy(np.array([1, 2, 3]), np.array([1, 2, 0])) == pytest.approx(2 / 3)


def test_png_writer(tmp_path):
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4) * 7
    picture = grid(images, columns=2, pad=1, scale=1)
    assert picture.shape == (6, 11)
    data = write_png(tmp_path / "g.png", picture).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (11, 6)
    idat = data[data.index(b"IDAT") + 4:data.index(b"IEND") - 8]
    raw = zlib.decompress(idat)
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(6, 12)[:, 1:]
    assert np.array_equal(rows, picture)
