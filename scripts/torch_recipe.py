"""The homework's PyTorch recipe (Question 3), run as printed, for reference figures.

Needs torch and torchvision (a separate venv: pip install torch==2.14.1 torchvision==0.29.1)
and reads the CIFAR-10 binary archive with hw4jax.data.cifar10_archive (numpy only):

  PYTHONPATH=. /path/to/torchvision-venv/bin/python scripts/torch_recipe.py \
      --archive ../shared/data/cifar10/cifar-10-binary.tar.gz --batch-size 64 --seed 0 \
      --out runs/torch_b64_s0.json

Each epoch prints the homework's line (sum over the epoch of loss.item() * batch_size),
then evaluates on the test set; at the end the test accuracy overall and per class; all of
it goes to --out as JSON (the run-file format of ``hw4jax.studies.compare_training``).

Two more modes serve the attribution arms of that comparison:
  --batches DIR        train on another pipeline's augmented batches instead of torchvision's:
                       DIR/epoch{E}.npz with 'image' uint8 [N, 32, 32, 3] and 'label' [N]
                       in training order (ToTensor and Normalize are applied here, as
                       torchvision computes them); the last partial batch is dropped.
  --dump-batches DIR   write torchvision's own augmented batches of this seed in that format
                       (DataLoader order, the uint8 images before ToTensor) and exit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image

from hw4jax.data.cifar10_archive import CLASS_NAMES, default_archive_path, read_splits
from hw4jax.pytorch.reference import Net

CLASSES = CLASS_NAMES


class ArrayDataset(torch.utils.data.Dataset):
    """uint8 HWC arrays served as PIL images through a transform, like datasets.CIFAR10."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def homework_augmentation() -> T.Compose:
    """The homework's train transform up to (not including) ToTensor: PIL -> PIL."""
    return T.Compose(
        [
            T.Resize((32, 32)),
            T.RandomHorizontalFlip(),
            T.RandomRotation(10),
            T.RandomAffine(0, shear=10, scale=(0.8, 1.2)),
            T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
        ]
    )


TO_TENSOR = T.Compose([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])


def uint8_to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W], as ToTensor + Normalize(0.5, 0.5) compute
    it (x / 255, then (x - 0.5) / 0.5, each in float32)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255)
    return x.sub(0.5).div(0.5)


def file_batches(directory: Path, epoch: int, batch_size: int):
    """The batches of DIR/epoch{epoch}.npz in order, the last partial one dropped."""
    path = directory / f"epoch{epoch}.npz"
    with np.load(path) as f:
        images, labels = f["image"], f["label"]
    for start in range(0, len(labels) - batch_size + 1, batch_size):
        yield (
            uint8_to_input(images[start : start + batch_size]),
            torch.from_numpy(labels[start : start + batch_size].astype(np.int64)),
        )


def dump_batches(data, *, seed: int, epochs: int, batch_size: int, out: Path) -> None:
    """Writes torchvision's augmented training images of each epoch, in DataLoader order."""
    torch.manual_seed(seed)
    to_array = T.Lambda(lambda im: torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()))
    loader = torch.utils.data.DataLoader(
        ArrayDataset(*data["train"], T.Compose([homework_augmentation(), to_array])),
        batch_size=batch_size,
        shuffle=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    for epoch in range(1, epochs + 1):
        images, labels = zip(*((x.numpy(), y.numpy()) for x, y in loader))
        np.savez(
            out / f"epoch{epoch}.npz",
            image=np.concatenate(images),
            label=np.concatenate(labels).astype(np.int32),
        )
        print(f"wrote {out / f'epoch{epoch}.npz'}", flush=True)


def evaluate(model, loader, device: str = "cpu") -> dict:
    """Mean cross-entropy, accuracy and per-class counts on the test set (eval mode), the
    model on ``device``."""
    model.eval()
    correct = np.zeros(10, np.int64)
    total = np.zeros(10, np.int64)
    loss_sum = 0.0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            loss_sum += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
            pred = logits.argmax(1)
            for c in range(10):
                sel = labels == c
                total[c] += int(sel.sum())
                correct[c] += int((pred[sel] == c).sum())
    return {
        "loss": loss_sum / total.sum(),
        "accuracy": correct.sum() / total.sum(),
        "correct": correct,
        "count": total,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive", default=str(default_archive_path()))
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-examples", type=int, default=None, help="the first N only")
    p.add_argument("--test-examples", type=int, default=None, help="the first N only")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: torch's own choice)",
    )
    p.add_argument(
        "--batches",
        type=Path,
        default=None,
        help="train on DIR/epoch{E}.npz instead of torchvision's augmentation",
    )
    p.add_argument(
        "--dump-batches",
        type=Path,
        default=None,
        help="write torchvision's augmented batches of --seed to DIR and exit",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device of the model and batches, e.g. cuda (the augmentation stays on "
        "the CPU, in the DataLoader, as in the homework)",
    )
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = read_splits(args.archive)
    for split, n in (("train", args.train_examples), ("test", args.test_examples)):
        if n is not None:
            data[split] = tuple(a[:n] for a in data[split])
    if args.dump_batches is not None:
        dump_batches(
            data,
            seed=args.seed,
            epochs=args.epochs,
            batch_size=args.batch_size,
            out=args.dump_batches,
        )
        return 0
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    train = torch.utils.data.DataLoader(
        ArrayDataset(*data["train"], T.Compose([homework_augmentation(), TO_TENSOR])),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
    )
    test = torch.utils.data.DataLoader(
        ArrayDataset(*data["test"], TO_TENSOR), batch_size=256, num_workers=args.workers
    )
    model = Net().to(args.device)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    epochs = []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        train_loss, correct, count = 0.0, 0, 0
        batches = (
            train if args.batches is None else file_batches(args.batches, epoch, args.batch_size)
        )
        for images, labels in batches:
            images, labels = images.to(args.device), labels.to(args.device)
            optimizer.zero_grad()
            logits = model(images)
            loss = criterion(logits, labels)
            loss.backward()
            optimizer.step()
            train_loss += loss.item() * images.size(0)
            correct += int((logits.argmax(1) == labels).sum())
            count += images.size(0)
        seconds = time.perf_counter() - t0
        result = evaluate(model, test, args.device)
        print(
            f"Epoch: {epoch} \tTraining Loss: {train_loss:.6f}  train accuracy "
            f"{100 * correct / count:.2f}%  test loss {result['loss']:.4f}  test accuracy "
            f"{100 * result['accuracy']:.2f}%  ({seconds:.0f} s)",
            flush=True,
        )
        epochs.append(
            {
                "epoch": epoch,
                "train_loss_sum": train_loss,
                "train_loss_mean": train_loss / count,
                "train_accuracy": correct / count,
                "train_examples": count,
                "test_loss": float(result["loss"]),
                "test_accuracy": float(result["accuracy"]),
                "seconds": seconds,
            }
        )
    correct, total = result["correct"], result["count"]
    print(f"Test accuracy: {100 * result['accuracy']:.2f}%")
    for c, name in enumerate(CLASSES):
        print(f"  {name:10s} {100 * correct[c] / total[c]:.1f}%")
    out = {
        "framework": "pytorch",
        "batches": "torchvision" if args.batches is None else "file",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "train_examples": args.train_examples,  # None: the whole split
        "test_examples": args.test_examples,
        "epochs": epochs,
        "test_accuracy": float(result["accuracy"]),
        "test_loss": float(result["loss"]),
        "per_class_accuracy": {n: float(correct[c] / total[c]) for c, n in enumerate(CLASSES)},
        "threads": torch.get_num_threads(),
        "device": str(args.device),
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
