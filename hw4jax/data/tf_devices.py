"""Keeps TensorFlow, which only feeds the input pipeline, off the accelerator JAX uses."""

from __future__ import annotations

import tensorflow as tf


def hide_gpus_from_tensorflow() -> None:
    """Makes TensorFlow see no GPU, so tf.data never takes the accelerator's memory.

    Harmless to call often. Once TensorFlow has initialised its devices the setting can no
    longer change (TF raises RuntimeError); that is ignored: whoever came first decided.
    """
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass
