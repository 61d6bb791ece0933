"""CIFAR-10 in: the binary archive, tfds prepared offline from it, the tf.data pipelines.

  cifar10_archive  the binary archive read with numpy alone (also by the torchvision
                   scripts, in their own virtual environment); ``IMAGE_SHAPE``,
                   ``CLASS_NAMES``.
  cifar10          tfds's ``cifar10`` prepared offline from the archive, and read.
  pipeline         tf.data: reproducible augmented training batches, padded evaluation
                   batches.
  throughput       images/s of the pipelines (what the benchmarks time).
  tf_devices       keeps TensorFlow off the accelerator.

Only this package imports TensorFlow (``cifar10_archive`` not even that).
"""
