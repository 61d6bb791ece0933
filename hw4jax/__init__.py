"""hw4jax: a JAX reimplementation of a classic PyTorch deep-learning homework.

Modules, one per part of the homework:
  backprop        Question 2, the 2-2-1 network by hand and by jax.grad.
  optimizers      The optimizers the homework compares (Adam, SGD, momentum, AdamW).
  models          Question 3, the CIFAR-10 CNN in Flax Linen.
  augment         torchvision-exact augmentation ops as TensorFlow ops.
  cifar10         CIFAR-10 through tfds, prepared offline from the binary archive.
  input_pipeline  tf.data pipelines for training and evaluation.
  train           Train state, jitted steps and ``train_and_evaluate``.
  torch_interop   PyTorch state_dict <-> Flax variables.

Importing hw4jax changes no global JAX setting.
"""

__version__ = "0.1.0"
