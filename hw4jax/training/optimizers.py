"""The optimizers the homework talks about, as optax transformations with PyTorch's semantics.

Each name maps onto the ``torch.optim`` class a PyTorch user would reach for, with
the same defaults, so that the same hyper-parameters give the same steps:

  adam      torch.optim.Adam(lr, betas=(0.9, 0.999), eps=1e-8)  -> optax.adam
  sgd       torch.optim.SGD(lr)                                  -> optax.sgd
  momentum  torch.optim.SGD(lr, momentum=0.9)                    -> optax.sgd(momentum=...)
  adamw     torch.optim.AdamW(lr, weight_decay=0.01)             -> optax.adamw

(optax's trace ``t = g + mu * t`` is torch's momentum buffer, and optax.adamw adds
``weight_decay * params`` before scaling by ``-lr`` exactly as torch decays the weights.)
"""

from __future__ import annotations

import math
import numbers

import optax

OPTIMIZERS = ("adam", "sgd", "momentum", "adamw")

# torch.optim's defaults, which differ from optax's for AdamW (optax: 1e-4).
DEFAULT_LEARNING_RATES = {"adam": 1e-3, "sgd": 1e-2, "momentum": 1e-2, "adamw": 1e-3}
TORCH_ADAMW_WEIGHT_DECAY = 0.01
DEFAULT_MOMENTUM = 0.9


def check_hyperparameters(
    name: str,
    learning_rate: float,
    *,
    momentum: float = DEFAULT_MOMENTUM,
    weight_decay: float = TORCH_ADAMW_WEIGHT_DECAY,
) -> None:
    """Raises ValueError naming the field unless ``name`` is one of ``OPTIMIZERS``, the
    learning rate a finite number > 0, momentum in [0, 1) and weight decay >= 0.

    The one check of these settings: ``make_optimizer`` and ``hw4jax.training.config.Config``
    both call it.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")
    if not (
        isinstance(learning_rate, numbers.Real)
        and not isinstance(learning_rate, bool)
        and math.isfinite(learning_rate)
        and learning_rate > 0
    ):
        raise ValueError(
            f"learning_rate must be a finite number > 0, got {learning_rate!r} (e.g. 1e-3)"
        )
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")


def make_optimizer(
    name: str,
    learning_rate: float,
    *,
    momentum: float = DEFAULT_MOMENTUM,
    weight_decay: float = TORCH_ADAMW_WEIGHT_DECAY,
) -> optax.GradientTransformation:
    """Returns the optax transformation for ``name`` (one of ``OPTIMIZERS``).

    Args:
      name: 'adam', 'sgd', 'momentum' (SGD with momentum) or 'adamw'.
      learning_rate: step size, > 0.
      momentum: momentum coefficient for 'momentum', in [0, 1).
      weight_decay: decoupled weight decay for 'adamw', >= 0.

    Raises:
      ValueError: unknown name or out-of-range hyper-parameter.
    """
    check_hyperparameters(name, learning_rate, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optax.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8)
    if name == "sgd":
        return optax.sgd(learning_rate)
    if name == "momentum":
        return optax.sgd(learning_rate, momentum=momentum)
    return optax.adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=weight_decay)
