"""hw4jax: a JAX reimplementation of a classic PyTorch deep-learning homework.

Subpackages and modules, one per part of the homework:
  backprop   Question 2: the 2-2-1 network by hand (chain rule) and by jax.grad.
  cnn        Question 3: the CIFAR-10 CNN in Flax Linen and its fast CPU convolutions.
  augment    torchvision-exact augmentation: one specification, TensorFlow ops for tf.data
             and pure JAX functions (jit, vmap, any device).
  data       CIFAR-10: the binary archive, tfds prepared offline, the tf.data pipelines.
  training   config, optimizers, train state, jitted steps, sharding, the training loop,
             checkpoints, metrics.
  pytorch    the homework's PyTorch model, state_dict <-> Flax variables, and the
             hw4jax-vs-PyTorch cross-check report (parity).
  studies    Question 1: the optimizer study.
  cli        what the scripts share on the command line.

The flat module names of earlier releases (hw4jax.train, hw4jax.models, ...) still import,
as deprecated aliases (see the README). Importing hw4jax changes no global JAX setting.
"""

__version__ = "0.1.0"
