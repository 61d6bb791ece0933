"""Deprecated alias of ``hw4jax.training`` (train.py became its loop, state, steps, sharding and
checkpoints modules): their public names, re-exported for one release."""

from hw4jax._moved import warn_moved
from hw4jax.data.cifar10_archive import (  # noqa: F401
    IMAGE_SHAPE,
)
from hw4jax.training.checkpoints import (  # noqa: F401
    STATE_FIELDS,
    restore_state,
)
from hw4jax.training.loop import (  # noqa: F401
    RESUME_FIELDS,
    NonFiniteLossError,
    StepEvent,
    evaluate,
    train_and_evaluate,
    train_epoch,
)
from hw4jax.training.sharding import (  # noqa: F401
    DATA_AXIS,
    batch_sharded,
    check_batch_size,
    make_mesh,
    replicated,
    shard_batch,
)
from hw4jax.training.state import (  # noqa: F401
    TrainState,
    create_train_state,
    initial_state,
)
from hw4jax.training.steps import (  # noqa: F401
    EVAL_BLOCK_SIZE,
    eval_step,
    make_eval_step,
    make_train_step,
    train_step,
)

warn_moved(__name__, "hw4jax.training")
