"""Running a per-example function over a batch in blocks, so each block's temporaries stay in cache.

Used by the convolutions' hand-written backward pass (``hw4jax.cnn.conv``) and by evaluation
on one CPU device (``hw4jax.training.steps.make_eval_step``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


def map_batch_blocks(fn: Callable[..., Any], chunk: int | None, *xs: jax.Array) -> Any:
    """fn(*xs) computed on blocks of ``chunk`` examples (axis 0) at a time, outputs concatenated.

    ``fn`` must treat examples independently, and every output (a pytree of arrays) must
    have the batch as its leading axis; ``chunk`` None (or >= the batch) calls ``fn`` once.
    The blocks run in a ``lax.map`` loop, so each block's temporaries stay in cache (at
    large batches the backward of the wide convolutions costs several times more per image
    unblocked; the README's Performance section has the figures). A last, smaller block
    takes the remainder.
    """
    n = xs[0].shape[0]
    if chunk is None or n <= chunk:
        return fn(*xs)
    full = n // chunk * chunk
    blocks = tuple(x[:full].reshape(n // chunk, chunk, *x.shape[1:]) for x in xs)
    out = lax.map(lambda b: fn(*b), blocks)
    out = jax.tree.map(lambda y: y.reshape(-1, *y.shape[2:]), out)
    if full < n:
        rest = fn(*(x[full:] for x in xs))
        out = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, rest)
    return out
