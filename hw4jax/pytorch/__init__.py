"""The homework's PyTorch side: its model as the reference, and weights both ways.

  reference  the homework's ``Net`` (NCHW), its optimizers and train step (needs torch).
  interop    PyTorch state_dict <-> Flax variables of ``hw4jax.cnn.model.CNN`` with numpy
             alone; ``.pt`` files; a training checkpoint exported as a state_dict.
  torchvision_ops
             torchvision's augmentation with its random parameters pinned (needs
             torchvision; imports neither JAX nor TensorFlow).

Only this package (and the parity report) imports torch, an optional dependency
(``pip install 'hw4jax[torch]'``): ``import_torch`` says how to install it when it is missing.
"""

from __future__ import annotations

from types import ModuleType


def import_torch(purpose: str) -> ModuleType:
    """``torch``, or an ImportError that says ``purpose`` needs it and how to install it."""
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            f"{purpose} needs PyTorch: pip install 'hw4jax[torch]' "
            "(or torch==2.13.0 for the CPU build)"
        ) from e
    return torch
