"""Deprecated alias of ``hw4jax.training.checkpoints``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.training.checkpoints import (  # noqa: F401
    CHECKPOINT_DIR,
    checkpoint_manager,
    latest_step,
    restore_checkpoint,
    restore_progress,
    save_checkpoint,
)

warn_moved(__name__, "hw4jax.training.checkpoints")
