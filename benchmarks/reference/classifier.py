"""A small Fashion-MNIST CNN: class accuracy of samples and the feature space of FD-classifier."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
CLASSIFIER_WEIGHTS = HERE / "weights" / "classifier.safetensors"
FEATURE_DIM = 128


class FashionClassifier(nn.Module):
    """Input: float [N, 1, 28, 28] in [0, 1]. `features` is the penultimate layer used for FD."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, FEATURE_DIM), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def images_to_input(images_uint8) -> torch.Tensor:
    """uint8 [N, 28, 28] (numpy or tensor) -> float [N, 1, 28, 28] in [0, 1]."""
    x = torch.as_tensor(images_uint8)
    return (x.to(torch.float32) / 255.0).unsqueeze(1)


def load_classifier(path: str | Path | None = None) -> FashionClassifier:
    from safetensors.torch import load_file

    path = Path(path) if path is not None else CLASSIFIER_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"classifier weights not found at {path}; train them with "
                                f"`python -m benchmarks.reference.train_classifier`")
    model = FashionClassifier()
    model.load_state_dict(load_file(str(path)))
    return model.eval().requires_grad_(False)


@torch.no_grad()
def classify(model: FashionClassifier, images_uint8, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted labels [N], penultimate features [N, FEATURE_DIM]) of uint8 images."""
    x = images_to_input(images_uint8)
    labels, feats = [], []
    for i in range(0, len(x), batch_size):
        f = model.features(x[i:i + batch_size])
        feats.append(f)
        labels.append(model.head(f).argmax(dim=1))
    return torch.cat(labels), torch.cat(feats)
