"""Tests of the training pictures (hw4jax.training.plots) and the step records they draw
(hw4jax.training.step_log), on a few numbers, without training."""

import numpy as np
import pytest
from png_check import figure_pixels, png_size

from hw4jax.data.cifar10_archive import CLASS_NAMES
from hw4jax.training import plots, step_log
from hw4jax.training.metrics import Totals

EPOCHS = [
    {
        "epoch": e,
        "step": 6 * e,
        "train_loss_mean": 2.0 / e,
        "train_accuracy": 0.2 * e,
        "test_loss": 1.9 / e,
        "test_accuracy": 0.25 * e,
    }
    for e in (1, 2)
]


def _steps():
    """Step records of two epochs of 6 steps, a check every 4: windows of 4 and 2."""
    records = []
    for epoch in range(2):
        previous = None
        for step, loss_sum, correct in ((4, 40.0, 3), (6, 50.0, 5)):
            previous = step_log.step_record(
                epoch=epoch,
                step=6 * epoch + step,
                batch_size=4,
                totals=Totals(loss_sum, correct, 4 * step),
                previous=previous,
                epoch_start_step=6 * epoch,
                wall_time=0.0,
            )
            records.append(previous)
    return records


def test_step_records_are_windows_of_the_epoch_totals():
    """A record's train figures are its window's (the difference of the epoch's totals
    since the record before, or the epoch's start), its epoch figures the running ones;
    the numbers here are exact in binary, so the comparisons are too."""
    first, second = _steps()[2:]
    assert first["window_steps"] == 4 and second["window_steps"] == 2
    assert first["train_loss"] == 40.0 / 16 and first["train_accuracy"] == 3 / 16
    assert second["train_loss"] == 10.0 / 8 and second["train_accuracy"] == 2 / 8
    assert second["epoch_train_loss"] == 50.0 / 24 and second["images"] == 4 * 12


@pytest.mark.parametrize("with_steps", [True, False])
def test_training_curves_png(tmp_path, with_steps):
    """metrics.png draws from step records, or from the epoch points alone (a run
    checkpointed before step records existed): a PNG of CURVES_SIZE at DPI either way."""
    steps = _steps() if with_steps else ()
    path = plots.plot_training_curves(tmp_path / "m.png", EPOCHS, steps)
    assert png_size(path) == figure_pixels(plots.CURVES_SIZE, plots.DPI)


def test_confusion_matrix_and_per_class_pngs(tmp_path):
    """The confusion matrix and per-class bars of a 10-class matrix (one class without
    examples) are PNGs of their sizes; a matrix that does not match the class names is a
    ValueError that says what to pass."""
    confusion = np.diag(np.arange(10)) + 1
    confusion[3] = 0  # a class with no test images: no bar, a row of zero shares
    path = plots.plot_confusion_matrix(tmp_path / "c.png", confusion.tolist(), CLASS_NAMES)
    assert png_size(path) == figure_pixels(plots.CONFUSION_SIZE, plots.DPI)
    path = plots.plot_per_class_accuracy(
        tmp_path / "p.png", np.diagonal(confusion), confusion.sum(1), CLASS_NAMES
    )
    assert png_size(path) == figure_pixels(plots.PER_CLASS_SIZE, plots.DPI)
    with pytest.raises(ValueError, match="expected"):
        plots.plot_confusion_matrix(tmp_path / "x.png", confusion[:9].tolist(), CLASS_NAMES)
    with pytest.raises(ValueError, match="one of each per class"):
        plots.plot_per_class_accuracy(tmp_path / "x.png", [1, 2], [3, 4], CLASS_NAMES)


def test_the_picture_and_log_modules_import_neither_tensorflow_nor_torch():
    """TensorFlow comes in only when a run writes or reads TensorBoard events, torch only
    with torchvision's side of the gallery: importing the modules pays for neither."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, hw4jax.training.loop, hw4jax.training.step_log, hw4jax.training.plots,"
        " hw4jax.augment.gallery, hw4jax.backprop.picture;"
        "assert 'tensorflow' not in sys.modules, 'tensorflow';"
        "assert 'torch' not in sys.modules, 'torch'"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
