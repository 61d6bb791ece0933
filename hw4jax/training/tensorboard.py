"""TensorBoard event files of a run's scalars, written by TensorFlow's summary writer.

``tf.summary.scalar`` lives in the ``tensorboard`` package, which TensorFlow's CPU wheel
does not install and hw4jax does not need: only someone viewing the curves does (``pip
install tensorboard; tensorboard --logdir runs/``). So ``ScalarWriter`` writes what
``tf.summary.scalar`` writes, a float32 scalar tensor tagged with the scalars plugin's
metadata, through ``tf.summary.write``; the event files themselves are TensorFlow's.
``read_scalars`` reads them back (for tests, and for anyone without TensorBoard).

TensorFlow is imported when a writer is created or files are read, not with this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

SCALARS_PLUGIN = "scalars"  # TensorBoard's plugin for scalar time series


class ScalarWriter:
    """Appends scalars to a new event file in ``logdir`` (created); use as a context
    manager, or ``close()`` it, so the last events reach the file."""

    def __init__(self, logdir: str | Path) -> None:
        from hw4jax.data.tf_devices import hide_gpus_from_tensorflow

        hide_gpus_from_tensorflow()  # the writer's eager context must not take the GPU
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(logdir))
        self._metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=SCALARS_PLUGIN)
        )

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Writes each ``tag: value`` of ``values`` at ``step`` (TensorBoard's x axis)."""
        tf = self._tf
        with self._writer.as_default():
            for tag, value in values.items():
                tf.summary.write(
                    tag, tf.constant(value, tf.float32), step=int(step), metadata=self._metadata
                )

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> ScalarWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_scalars(logdir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """The scalars of every event file under ``logdir``, as TensorBoard's scalars plugin
    finds them: per tag, (step, value) pairs in the order written (files by name, which
    starts with their creation time).

    Only values tagged with the scalars plugin are read; a tag's plugin is named in its
    first event.
    """
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    plugins: dict[str, str] = {}
    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(Path(logdir).rglob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                plugins.setdefault(value.tag, plugin)
                if plugins[value.tag] == SCALARS_PLUGIN and value.HasField("tensor"):
                    number = float(tf.make_ndarray(value.tensor))
                    scalars.setdefault(value.tag, []).append((event.step, number))
    return scalars
