"""SHA-256 fingerprints that show two runs started alike and saw the same data.

``tree_fingerprint`` hashes a pytree (structure, each leaf's path, dtype, shape and bytes);
``start_fingerprint`` what every optimizer of a study must share at step 0;
``BatchDigest`` the batches of an epoch in the order the steps consumed them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jax
import numpy as np

from hw4jax.training.state import TrainState


def tree_fingerprint(tree: Any) -> str:
    """SHA-256 (hex) of a pytree's structure, and each leaf's path, dtype, shape and bytes."""
    digest = hashlib.sha256()
    leaves, treedef = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))
    digest.update(str(treedef).encode())
    for path, leaf in leaves:
        leaf = np.asarray(leaf)
        digest.update(f"{jax.tree_util.keystr(path)}|{leaf.dtype}|{leaf.shape}|".encode())
        digest.update(np.ascontiguousarray(leaf).tobytes())
    return digest.hexdigest()


def start_fingerprint(state: TrainState) -> str:
    """The fingerprint of what every optimizer must share at step 0: params, batch_stats
    and the dropout key (not opt_state, which is each optimizer's own)."""
    return tree_fingerprint(
        {
            "params": state.params,
            "batch_stats": state.batch_stats,
            "key": state.key,
            "step": state.step,
        }
    )


class BatchDigest:
    """The running SHA-256 of batches' labels and images, in the order given to ``update``."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def update(self, batch: dict[str, np.ndarray]) -> None:
        self._digest.update(np.ascontiguousarray(batch["label"]).tobytes())
        self._digest.update(np.ascontiguousarray(batch["image"]).tobytes())

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
