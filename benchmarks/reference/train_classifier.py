"""Train the Fashion-MNIST classifier: `python -m benchmarks.reference.train_classifier`."""
from __future__ import annotations

import argparse
import json

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from .classifier import CLASSIFIER_WEIGHTS, FashionClassifier, classify, images_to_input
from .data import load_fashion_mnist


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    train_images, train_labels = load_fashion_mnist("train")
    test_images, test_labels = load_fashion_mnist("test")
    x, y = images_to_input(train_images), torch.from_numpy(train_labels)
    model = FashionClassifier()
    steps = args.epochs * (len(x) // args.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    bar = tqdm(total=steps, desc="classifier")
    for _ in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(len(x) // args.batch_size):
            idx = perm[i * args.batch_size:(i + 1) * args.batch_size]
            xb = x[idx]
            # small random shifts: samples of a generator are not perfectly centred
            dx, dy = torch.randint(-2, 3, (2,)).tolist()
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            loss = torch.nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model.eval()
    pred, _ = classify(model, test_images)
    accuracy = (pred.numpy() == test_labels).mean().item()
    CLASSIFIER_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(CLASSIFIER_WEIGHTS),
              metadata={"xslim": json.dumps({"test_accuracy": accuracy, "epochs": args.epochs})})
    print(json.dumps({"test_accuracy": accuracy, "weights": str(CLASSIFIER_WEIGHTS)}))


if __name__ == "__main__":
    main()
