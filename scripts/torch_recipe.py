"""The homework's PyTorch recipe (Question 3), run as printed, for reference figures.

Needs torch and torchvision (a separate venv: pip install torch==2.14.1 torchvision==0.29.1)
and reads the CIFAR-10 binary archive with hw4jax.cifar10_archive (numpy only):

  PYTHONPATH=. /path/to/torchvision-venv/bin/python scripts/torch_recipe.py \
      --archive ../shared/data/cifar10/cifar-10-binary.tar.gz --batch-size 64 --seed 0 \
      --out runs/torch_b64_s0.json

Each epoch prints the homework's line (sum over the epoch of loss.item() * batch_size),
then the test accuracy overall and per class, and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

from hw4jax.cifar10_archive import default_archive_path, read_splits
from hw4jax.torch_reference import Net

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class ArrayDataset(torch.utils.data.Dataset):
    """uint8 HWC arrays served as PIL images through a transform, like datasets.CIFAR10."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive", default=str(default_archive_path()))
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    data = read_splits(args.archive)
    train_tf = T.Compose([
        T.Resize((32, 32)), T.RandomHorizontalFlip(), T.RandomRotation(10),
        T.RandomAffine(0, shear=10, scale=(0.8, 1.2)),
        T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
        T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    test_tf = T.Compose([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    train = torch.utils.data.DataLoader(
        ArrayDataset(*data["train"], train_tf), batch_size=args.batch_size, shuffle=True,
        num_workers=args.workers)
    test = torch.utils.data.DataLoader(
        ArrayDataset(*data["test"], test_tf), batch_size=256, num_workers=args.workers)
    model = Net()
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    epochs = []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        train_loss = 0.0
        for images, labels in train:
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            train_loss += loss.item() * images.size(0)
        seconds = time.perf_counter() - t0
        print(f"Epoch: {epoch} \tTraining Loss: {train_loss:.6f}  ({seconds:.0f} s)", flush=True)
        epochs.append({"epoch": epoch, "train_loss_sum": train_loss,
                       "train_loss_mean": train_loss / len(train.dataset), "seconds": seconds})
    model.eval()
    correct = np.zeros(10, np.int64)
    total = np.zeros(10, np.int64)
    with torch.no_grad():
        for images, labels in test:
            pred = model(images).argmax(1)
            for c in range(10):
                sel = labels == c
                total[c] += int(sel.sum())
                correct[c] += int((pred[sel] == c).sum())
    accuracy = correct.sum() / total.sum()
    print(f"Test accuracy: {100 * accuracy:.2f}%")
    for c, name in enumerate(CLASSES):
        print(f"  {name:10s} {100 * correct[c] / total[c]:.1f}%")
    result = {"framework": "pytorch", "torch": torch.__version__, "batch_size": args.batch_size,
              "seed": args.seed, "epochs": epochs, "test_accuracy": float(accuracy),
              "per_class_accuracy": {n: float(correct[c] / total[c]) for c, n in enumerate(CLASSES)},
              "threads": torch.get_num_threads()}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
