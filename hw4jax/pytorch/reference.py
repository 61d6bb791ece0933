"""The homework's PyTorch model and training step, as the reference hw4jax is checked against.

Imported only when used: torch is an optional dependency (``pip install hw4jax[torch]``).
The model is the homework's ``Net`` verbatim (NCHW); its state_dict keys are
``conv_layer.{0,3,6,9,13,16}.{weight,bias}``, ``conv_layer.{1,7,14}.{weight,bias,
running_mean,running_var,num_batches_tracked}`` and ``fc_layer.{2,4,7}.{weight,bias}``.
"""

from __future__ import annotations

from hw4jax.pytorch import import_torch

torch = import_torch("hw4jax.pytorch.reference")
from torch import nn  # noqa: E402  (after the check that torch is installed)

from hw4jax.pytorch.layout import (  # noqa: E402, F401  (re-exported: Net's layout)
    TORCH_BN_INDEX,
    TORCH_CONV_INDEX,
    TORCH_FC_INDEX,
)


class Net(nn.Module):
    """The homework's CIFAR-10 CNN, exactly as printed (NCHW input [N, 3, 32, 32])."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_layer = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.Conv2d(6, 10, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(10, 20, 3, padding=1),
            nn.BatchNorm2d(20),
            nn.ReLU(),
            nn.Conv2d(20, 40, 3, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.1),
            nn.Conv2d(40, 80, 3, padding=2),
            nn.BatchNorm2d(80),
            nn.ReLU(),
            nn.Conv2d(80, 160, 3, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.fc_layer = nn.Sequential(
            nn.Dropout(0.1),
            nn.Flatten(),
            nn.Linear(160 * 6 * 6, 1024),
            nn.ReLU(),
            nn.Linear(1024, 128),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(128, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_layer(self.conv_layer(x))


def make_torch_optimizer(
    name: str,
    params,
    learning_rate: float,
    *,
    momentum: float = 0.9,
    weight_decay: float = 0.01,
) -> torch.optim.Optimizer:
    """The torch.optim counterpart of ``hw4jax.training.optimizers.make_optimizer(name, ...)``."""
    if name == "adam":
        return torch.optim.Adam(params, lr=learning_rate)
    if name == "sgd":
        return torch.optim.SGD(params, lr=learning_rate)
    if name == "momentum":
        return torch.optim.SGD(params, lr=learning_rate, momentum=momentum)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}: choose adam, sgd, momentum or adamw")


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
) -> float:
    """One step of the homework's loop: forward in train mode, CrossEntropyLoss (mean),
    backward, optimizer step. Returns the batch's mean loss."""
    model.train()
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()
