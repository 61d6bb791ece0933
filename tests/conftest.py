"""Shared test set-up: quiet TensorFlow, keep it off any GPU, and locate the real CIFAR-10."""

import os

# Before TensorFlow is imported anywhere: no C++ info logs, and no GPU for tf.data.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from hw4jax.data.cifar10_archive import default_archive_path  # noqa: E402


@pytest.fixture(scope="session")
def cifar10_archive():
    """The real CIFAR-10 binary archive (../shared/data/cifar10 beside the checkout, or
    $HW4JAX_CIFAR10_ARCHIVE). CI has it; tests that need it are skipped only where it is absent."""
    path = default_archive_path()
    if not path.is_file():
        pytest.skip(f"real CIFAR-10 archive not found at {path}")
    return path
