"""Data parallelism: a 1-D device mesh, the shardings of state and batches, host counts.

Data parallelism is plain ``jit`` with shardings: the state is replicated, a batch is split
on its leading axis over the mesh axis 'data', and the model takes means over the whole
(global) batch axis, so the compiler inserts the cross-device reductions and BatchNorm's
statistics, the loss and the gradients are those of the global batch, exactly as on one
device (``tests/test_sharding.py`` checks it on 4 simulated CPU devices).
"""

from __future__ import annotations

from collections.abc import Iterable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(devices: Iterable[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis 'data' over ``devices`` (default: every device, all hosts)."""
    return Mesh(np.asarray(list(jax.devices() if devices is None else devices)), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding that keeps a full copy on every device (state, metrics)."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """The sharding that splits the leading (batch) axis over the mesh's 'data' axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def shard_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """This process's part of a global batch -> global arrays sharded on the batch axis."""
    sharding = batch_sharded(mesh)
    return {
        k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in batch.items()
    }


def check_batch_size(global_batch: int, *, name: str = "batch_size") -> None:
    """Raises ValueError unless ``global_batch`` splits evenly over devices and processes."""
    devices = jax.device_count()
    if global_batch % devices:
        raise ValueError(
            f"{name} {global_batch} does not split over {devices} devices: "
            f"use a multiple of {devices}"
        )
    if global_batch % jax.process_count():
        raise ValueError(f"{name} {global_batch} does not split over {jax.process_count()} hosts")


def global_max(n: int) -> int:
    """The largest of every process's ``n`` (``n`` itself in a single-process run)."""
    if jax.process_count() == 1:
        return n
    from jax.experimental import multihost_utils

    return int(np.max(multihost_utils.process_allgather(np.asarray(n))))


def global_sum(n: int) -> int:
    """The sum of every process's ``n`` (``n`` itself in a single-process run)."""
    if jax.process_count() == 1:
        return n
    from jax.experimental import multihost_utils

    return int(np.sum(multihost_utils.process_allgather(np.asarray(n))))


def device_summary(mesh: Mesh, global_batch: int) -> dict:
    """What a run reports about where it ran: platform, device kind and count, processes,
    the global and the per-device batch."""
    devices = mesh.devices.ravel()
    return {
        "platform": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "device_count": int(devices.size),
        "process_count": jax.process_count(),
        "global_batch": global_batch,
        "per_device_batch": global_batch // int(devices.size),
    }
