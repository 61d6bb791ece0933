"""The train state: one pytree of everything a train step reads and writes, and how it starts.

TrainState          params, batch_stats, opt_state, step, key (raw uint32 [2]).
create_train_state  a fresh state for a model and an optax transformation.
initial_state       a run's fresh state: ``CNN()`` and its config's optimizer.
restart_state       a state at step 0 from given weights with a fresh optimizer state
                    (the optimizer study gives every optimizer the same start).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from hw4jax.cnn.model import CNN
from hw4jax.data.cifar10_archive import IMAGE_SHAPE
from hw4jax.training.config import Config
from hw4jax.training.optimizers import make_optimizer

# One model object for every state: a state's pytree holds ``apply_fn``, a method bound to
# the model, and bound methods of two equal modules are not equal (Python compares
# ``__self__`` by identity); one object keeps equal states' tree structures equal, so runs
# in one process (tests, the optimizer study, sweeps) reuse compiled steps.
MODEL = CNN()


class TrainState(train_state.TrainState):
    """Everything a train step reads and writes, as one pytree.

    Attributes (beyond flax's ``step``, ``params``, ``opt_state``, ``apply_fn``, ``tx``):
      batch_stats: BatchNorm running statistics ({'bn1': {'mean', 'var'}, ...}, float32).
      key: raw PRNG key data, uint32 [2]; dropout at step s uses fold_in(key, s).
    """

    batch_stats: Any = None
    key: jax.Array | None = None


def create_train_state(
    key: jax.Array,
    *,
    model: nn.Module,
    tx: optax.GradientTransformation,
    image_shape: tuple[int, int, int] = IMAGE_SHAPE,
) -> TrainState:
    """A fresh train state.

    Args:
      key: a PRNG key (typed or raw); split into the init key and the dropout base key.
      model: the Flax module (e.g. ``CNN()``), called as ``model(x, train=...)``.
      tx: the optax transformation.
      image_shape: (H, W, C) of one input image.

    Returns:
      TrainState with step int32 0 (a strong dtype, so restored and fresh states trace alike).
    """
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)
    init_key, dropout_key = jax.random.split(key)
    variables = model.init(
        {"params": init_key}, jnp.zeros((1, *image_shape), jnp.float32), train=False
    )
    state = TrainState.create(
        apply_fn=model.apply,
        params=variables["params"],
        tx=tx,
        batch_stats=variables.get("batch_stats", {}),
        key=jax.random.key_data(dropout_key),
    )
    return state.replace(step=jnp.zeros((), jnp.int32))


@functools.lru_cache(maxsize=64)
def cached_optimizer(
    name: str, learning_rate: float, momentum: float, weight_decay: float
) -> optax.GradientTransformation:
    """``make_optimizer``, one object per setting: the state's pytree holds the
    transformation, so an equal object keeps compiled train steps valid."""
    return make_optimizer(name, learning_rate, momentum=momentum, weight_decay=weight_decay)


def initial_state(config: Config) -> TrainState:
    """The run's fresh state: ``CNN()`` and ``config``'s optimizer, keyed by ``config.seed``."""
    tx = cached_optimizer(
        config.optimizer, config.learning_rate, config.momentum, config.weight_decay
    )
    return create_train_state(jax.random.key(config.seed), model=MODEL, tx=tx)


def restart_state(start: TrainState | dict, *, tx: optax.GradientTransformation) -> TrainState:
    """A state at step 0 with ``start``'s params, batch_stats and dropout key and a fresh
    opt_state for ``tx`` (``start``: a state, or a dict of those three)."""
    if isinstance(start, TrainState):
        start = {"params": start.params, "batch_stats": start.batch_stats, "key": start.key}
    state = TrainState.create(
        apply_fn=MODEL.apply,
        params=start["params"],
        tx=tx,
        batch_stats=start["batch_stats"],
        key=start["key"],
    )
    return state.replace(step=jnp.zeros((), jnp.int32))
