"""The whole check (``crosscheck``) and its output: the text table and JSON."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path

from hw4jax.pytorch import import_torch
from hw4jax.pytorch import interop as torch_interop
from hw4jax.pytorch.parity.cnn_rows import cnn_rows
from hw4jax.pytorch.parity.criteria import Row
from hw4jax.pytorch.parity.question_rows import augment_rows, backprop_rows
from hw4jax.pytorch.parity.runs import CnnRuns
from hw4jax.pytorch.parity.torch_side import make_batches, trained_torch_state_dict

PURPOSE = "hw4jax's PyTorch cross-check"

DEVICES = ("cpu", "gpu")


def check_device(device: str) -> None:
    """Raises ValueError unless both JAX and torch can run on ``device``."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "gpu":
        import jax

        try:
            jax.devices("gpu")
        except RuntimeError as e:
            raise ValueError(
                f"--device gpu: JAX sees no GPU on this machine ({e}); use --device cpu"
            ) from e
        if not import_torch(PURPOSE).cuda.is_available():
            raise ValueError(
                "--device gpu: this torch build sees no CUDA GPU (a CPU wheel?); use --device cpu"
            )


def crosscheck(
    *,
    weights: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    save_weights: str | os.PathLike | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    steps: int = 3,
    seed: int = 0,
    augment_golden: str | os.PathLike | None = None,
) -> list[Row]:
    """Every row of the parity table (see the module docstring).

    Args:
      weights: a ``torch.save(Net().state_dict())`` file; default: a Net seeded with
        ``seed`` after 5 Adam steps on random data.
      checkpoint: instead of ``weights``, a hw4jax training run's workdir: its latest
        checkpoint, exported by ``torch_interop.export_checkpoint``.
      save_weights: where to also write the checked weights as a .pt state_dict.
      device: 'cpu' or 'gpu' (both frameworks; highest matmul precision either way).
      batch_size: images per batch, >= 2 (BatchNorm needs two to have a variance).
      steps: optimizer steps k compared per optimizer, >= 1.
      seed: the random batches' (and default weights') seed.
      augment_golden: the augmentation fixture; default tests/data/augment_golden.npz.

    Raises:
      ValueError: bad argument, an unreadable or mismatched weights file or checkpoint, or
        no GPU for ``device='gpu'``.
    """
    check_device(device)
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (BatchNorm's variance), got {batch_size}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if weights is not None and checkpoint is not None:
        raise ValueError("pass weights or checkpoint, not both")
    if checkpoint is not None:
        with tempfile.TemporaryDirectory() as tmp:
            out = save_weights if save_weights is not None else Path(tmp) / "export.pt"
            state_dict = torch_interop.export_checkpoint(checkpoint, out)
    elif weights is not None:
        state_dict = torch_interop.load_state_dict_file(weights)
        torch_interop.state_dict_to_variables(state_dict)  # checks every key and shape
    else:
        state_dict = trained_torch_state_dict(seed=seed)
    if save_weights is not None and checkpoint is None:
        torch_interop.save_state_dict_file(state_dict, save_weights)
    batches = make_batches(seed=seed + 2, steps=steps, batch_size=batch_size)
    runs = CnnRuns(state_dict, batches, device=device)  # shared by both precisions' rows
    rows = []
    for precision in ("float64", "float32"):
        rows += cnn_rows(state_dict, batches, precision=precision, runs=runs)
    rows += backprop_rows()
    rows += augment_rows(augment_golden)
    return rows


def all_passed(rows: list[Row]) -> bool:
    return all(r.passed for r in rows)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2e}"


def _tolerance_text(row: Row) -> str:
    if row.criterion in ("n/a", "info"):
        return "-"
    if row.criterion == "exact":
        return "exact"
    if row.criterion == "f64ref":
        return f"{row.tolerance:.2e} abs"
    return f"{row.tolerance:g} {row.criterion}"


def format_table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table, one line per row, then a summary line.

    float64 rows show hw4jax's error against PyTorch's float64 result; float32 rows show
    hw4jax's and PyTorch's errors against float64 side by side ('rel err', 'PyTorch err'),
    and the bound that hw4jax's max abs error must meet; 'units' rows measure both errors in
    the units their note names."""
    header = ("quantity", "max abs err", "rel err", "PyTorch err", "bound", "pass")
    lines = [
        (
            r.quantity,
            _fmt(r.max_abs_error),
            _fmt(r.rel_error),
            _fmt(r.torch_rel_error),
            _tolerance_text(r),
            ("PASS" if r.passed else "FAIL") + (f"  {r.note}" if r.note else ""),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header[:5])]

    def fmt(cells):
        return (
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
            )
            + "  "
            + cells[5]
        )

    failed = sum(not r.passed for r in rows)
    return "\n".join([fmt(header), *map(fmt, lines), f"{len(rows) - failed}/{len(rows)} rows pass"])


def rows_as_json(rows: list[Row]) -> str:
    """The rows as JSON: {"passed": bool, "rows": [{field: value}]} (inf as null)."""

    def clean(row: Row) -> dict:
        d = dataclasses.asdict(row)
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()
        }

    return json.dumps({"passed": all_passed(rows), "rows": [clean(r) for r in rows]}, indent=1)
