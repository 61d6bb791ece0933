"""Deprecated alias of ``hw4jax.data.cifar10_archive``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.data.cifar10_archive import (  # noqa: F401
    CLASS_NAMES,
    FOLDER,
    IMAGE_SHAPE,
    RECORD_BYTES,
    RECORDS_PER_FILE,
    SPLIT_FILES,
    TEST_FILES,
    TRAIN_FILES,
    decode_records,
    default_archive_path,
    read_split,
    read_splits,
)

warn_moved(__name__, "hw4jax.data.cifar10_archive")
