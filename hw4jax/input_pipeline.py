"""Deprecated alias of ``hw4jax.data.pipeline``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.data.cifar10_archive import (  # noqa: F401
    IMAGE_SHAPE,
)
from hw4jax.data.pipeline import (  # noqa: F401
    AUGMENT_CHUNK,
    as_numpy_batches,
    count_examples,
    epoch_keys,
    epoch_uniforms,
    eval_dataset,
    steps_per_epoch,
    train_dataset,
)
from hw4jax.data.tf_devices import (  # noqa: F401
    hide_gpus_from_tensorflow,
)
from hw4jax.data.throughput import (  # noqa: F401
    Throughput,
    measure_throughput,
    train_pipeline_throughput,
)

warn_moved(__name__, "hw4jax.data.pipeline")
