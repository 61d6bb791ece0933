"""PyTorch state_dict <-> Flax variables of the homework CNN, both ways, checked key by key.

A PyTorch ``state_dict`` of ``hw4jax.pytorch.reference.Net`` (what
``torch.save(model.state_dict(), path)`` writes) maps one to one onto the variables
``{'params': ..., 'batch_stats': ...}`` of ``hw4jax.cnn.model.CNN``:

  PyTorch key                         hw4jax variable               layout change
  conv_layer.{0,3,6,9,13,16}.weight   params/conv{1..6}/kernel      OIHW -> HWIO
  conv_layer.{0,3,6,9,13,16}.bias     params/conv{1..6}/bias        -
  conv_layer.{1,7,14}.weight, .bias   params/bn{1,2,3}/scale, bias  -
  conv_layer.{1,7,14}.running_mean    batch_stats/bn{1,2,3}/mean    -
  conv_layer.{1,7,14}.running_var     batch_stats/bn{1,2,3}/var     - (both unbiased)
  conv_layer.{1,7,14}.num_batches_tracked   (dropped; see below)
  fc_layer.{2,4,7}.weight             params/fc{1,2,3}/kernel       transpose; fc1 rows
                                                                    permuted (see below)
  fc_layer.{2,4,7}.bias               params/fc{1,2,3}/bias         -

PyTorch flattens the last feature map [N, 160, 6, 6] in (C, H, W) order before fc1;
hw4jax flattens its NHWC map [N, 6, 6, 160] in (H, W, C) order, so fc1's 5760 input rows
are permuted on the way in and back on the way out.

``num_batches_tracked`` only matters to a BatchNorm built with ``momentum=None``
(cumulative average); the homework's uses momentum 0.1, so the counter is bookkeeping.
It is dropped on the way in and written back on the way out as the value the caller
gives: the training step count where it is known (hw4jax updates every BatchNorm once per
train step, as PyTorch does), 0 (a fresh model's value) otherwise.

The conversion is numpy only: functions take and return dicts of numpy arrays (anything
``np.asarray`` accepts: CPU torch tensors, jax arrays) and keep their dtype. torch is
imported only to read and write ``.pt`` files, always with ``weights_only=True``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from hw4jax.cnn.model import BATCH_NORMS, CONV_LAYERS, DENSE_LAYERS
from hw4jax.pytorch import import_torch
from hw4jax.pytorch.layout import TORCH_BN_INDEX, TORCH_CONV_INDEX, TORCH_FC_INDEX
from hw4jax.training import checkpoints

IN_CHANNELS = 3
# The feature map before the flatten, (H, W, C): 32 -> 16 -> 9 -> 6 through the pools.
FLATTEN_HWC = (6, 6, CONV_LAYERS[-1][1])
NUM_BATCHES_TRACKED = "num_batches_tracked"


def _expected_torch_shapes() -> dict[str, tuple[int, ...]]:
    """Every state_dict key of Net with its PyTorch shape, in Net's order."""
    shapes: dict[str, tuple[int, ...]] = {}
    bn_features = dict(BATCH_NORMS)
    in_channels = IN_CHANNELS
    for name, features, _ in CONV_LAYERS:
        key = f"conv_layer.{TORCH_CONV_INDEX[name]}"
        shapes[f"{key}.weight"] = (features, in_channels, 3, 3)
        shapes[f"{key}.bias"] = (features,)
        in_channels = features
    for name, features in bn_features.items():
        key = f"conv_layer.{TORCH_BN_INDEX[name]}"
        for suffix in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{key}.{suffix}"] = (features,)
        shapes[f"{key}.{NUM_BATCHES_TRACKED}"] = ()
    in_features = int(np.prod(FLATTEN_HWC))
    for name, features in DENSE_LAYERS:
        key = f"fc_layer.{TORCH_FC_INDEX[name]}"
        shapes[f"{key}.weight"] = (features, in_features)
        shapes[f"{key}.bias"] = (features,)
        in_features = features
    return dict(sorted(shapes.items(), key=lambda kv: _torch_key_order(kv[0])))


_SUFFIX_ORDER = ("weight", "bias", "running_mean", "running_var", NUM_BATCHES_TRACKED)


def _torch_key_order(key: str) -> tuple[int, int, int]:
    """Sort key giving Net.state_dict()'s order."""
    part, index, suffix = key.split(".", 2)
    return (0 if part == "conv_layer" else 1, int(index), _SUFFIX_ORDER.index(suffix))


def _expected_flax_shapes() -> dict[str, dict[str, dict[str, tuple[int, ...]]]]:
    """{'params': {layer: {name: shape}}, 'batch_stats': ...} of hw4jax.cnn.model.CNN."""
    params: dict[str, dict[str, tuple[int, ...]]] = {}
    in_channels = IN_CHANNELS
    for name, features, _ in CONV_LAYERS:
        params[name] = {"kernel": (3, 3, in_channels, features), "bias": (features,)}
        in_channels = features
    batch_stats = {}
    for name, features in BATCH_NORMS:
        params[name] = {"scale": (features,), "bias": (features,)}
        batch_stats[name] = {"mean": (features,), "var": (features,)}
    in_features = int(np.prod(FLATTEN_HWC))
    for name, features in DENSE_LAYERS:
        params[name] = {"kernel": (in_features, features), "bias": (features,)}
        in_features = features
    return {"params": params, "batch_stats": batch_stats}


TORCH_SHAPES = _expected_torch_shapes()
FLAX_SHAPES = _expected_flax_shapes()


def _fc1_rows_torch_to_flax(weight: np.ndarray) -> np.ndarray:
    """fc1 weight [out, C*H*W] (PyTorch order) -> kernel [H*W*C, out] (hw4jax order)."""
    h, w, c = FLATTEN_HWC
    out = weight.shape[0]
    return weight.reshape(out, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, out)


def _fc1_rows_flax_to_torch(kernel: np.ndarray) -> np.ndarray:
    """Inverse of ``_fc1_rows_torch_to_flax``."""
    h, w, c = FLATTEN_HWC
    out = kernel.shape[1]
    return kernel.reshape(h, w, c, out).transpose(3, 2, 0, 1).reshape(out, c * h * w)


def _check_torch_state_dict(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Returns the state_dict as numpy arrays after checking every key and shape."""
    if not isinstance(state_dict, Mapping):
        raise ValueError(
            f"expected a state_dict (a mapping of key -> tensor), got {type(state_dict).__name__}"
        )
    keys = set(state_dict)
    missing = [k for k in TORCH_SHAPES if k not in keys]
    extra = sorted(keys - set(TORCH_SHAPES))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if extra:
            parts.append(f"unexpected keys {extra}")
        hint = ""
        if any(k.startswith("module.") for k in extra):
            hint = " (keys start with 'module.': strip that DataParallel prefix first)"
        raise ValueError(
            "not a state_dict of hw4jax.pytorch.reference.Net: " + "; ".join(parts) + hint
        )
    arrays = {}
    for key, shape in TORCH_SHAPES.items():
        value = _to_numpy(state_dict[key], f"state_dict[{key!r}]")
        if value.shape != shape:
            raise ValueError(
                f"state_dict[{key!r}] has shape {value.shape}, expected {shape} "
                "(the homework Net's layer sizes)"
            )
        if not key.endswith(NUM_BATCHES_TRACKED) and not np.issubdtype(value.dtype, np.floating):
            raise ValueError(f"state_dict[{key!r}] has dtype {value.dtype}, expected a float dtype")
        arrays[key] = value
    return arrays


def _to_numpy(value: Any, what: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except (TypeError, RuntimeError) as e:
        raise ValueError(
            f"{what} cannot be read as a numpy array ({e}); pass CPU tensors without grad, "
            "e.g. model.state_dict()"
        ) from e


def state_dict_to_variables(
    state_dict: Mapping[str, Any],
) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """PyTorch ``Net`` state_dict -> Flax variables of ``hw4jax.cnn.model.CNN``.

    Args:
      state_dict: every key of ``Net().state_dict()`` (see the module docstring), values
        numpy arrays or CPU tensors of PyTorch's shapes, any float dtype (kept as is).
        ``num_batches_tracked`` must be present (shape ()) and is dropped.

    Returns:
      ``{'params': {layer: {name: array}}, 'batch_stats': {bnX: {'mean', 'var'}}}`` of numpy
      arrays in hw4jax's layouts, ready for ``CNN().apply``.

    Raises:
      ValueError: a missing, unexpected, wrong-shaped or non-float entry, named.
    """
    sd = _check_torch_state_dict(state_dict)
    params: dict[str, dict[str, np.ndarray]] = {}
    batch_stats: dict[str, dict[str, np.ndarray]] = {}
    for name, index in TORCH_CONV_INDEX.items():
        key = f"conv_layer.{index}"
        params[name] = {
            "kernel": np.ascontiguousarray(sd[f"{key}.weight"].transpose(2, 3, 1, 0)),
            "bias": sd[f"{key}.bias"].copy(),
        }
    for name, index in TORCH_BN_INDEX.items():
        key = f"conv_layer.{index}"
        params[name] = {"scale": sd[f"{key}.weight"].copy(), "bias": sd[f"{key}.bias"].copy()}
        batch_stats[name] = {
            "mean": sd[f"{key}.running_mean"].copy(),
            "var": sd[f"{key}.running_var"].copy(),
        }
    for name, index in TORCH_FC_INDEX.items():
        key = f"fc_layer.{index}"
        weight = sd[f"{key}.weight"]
        kernel = _fc1_rows_torch_to_flax(weight) if name == "fc1" else weight.T
        params[name] = {"kernel": np.ascontiguousarray(kernel), "bias": sd[f"{key}.bias"].copy()}
    return {"params": params, "batch_stats": batch_stats}


def _check_variables(variables: Mapping[str, Any]) -> None:
    if not isinstance(variables, Mapping):
        raise ValueError(
            f"expected Flax variables {{'params': ..., 'batch_stats': ...}}, "
            f"got {type(variables).__name__}"
        )
    if set(variables) != set(FLAX_SHAPES):
        raise ValueError(
            f"variables have collections {sorted(variables)}, expected ['batch_stats', 'params'] "
            "(pass the whole variables dict of CNN, e.g. {'params': state.params, "
            "'batch_stats': state.batch_stats})"
        )
    for collection, layers in FLAX_SHAPES.items():
        given = variables[collection]
        missing = [f"{collection}/{n}" for n in layers if n not in given]
        extra = [f"{collection}/{n}" for n in given if n not in layers]
        if missing or extra:
            raise ValueError(
                f"variables do not match hw4jax.cnn.model.CNN: missing {missing}, "
                f"unexpected {extra}"
            )
        for layer, names in layers.items():
            got = given[layer]
            if set(got) != set(names):
                raise ValueError(
                    f"variables[{collection!r}][{layer!r}] has entries {sorted(got)}, "
                    f"expected {sorted(names)}"
                )
            for name, shape in names.items():
                shape_got = tuple(np.shape(got[name]))
                if shape_got != shape:
                    raise ValueError(
                        f"variables[{collection!r}][{layer!r}][{name!r}] has shape {shape_got}, "
                        f"expected {shape}"
                    )


def variables_to_state_dict(
    variables: Mapping[str, Any], *, num_batches_tracked: int = 0
) -> dict[str, np.ndarray]:
    """Flax variables of ``hw4jax.cnn.model.CNN`` -> a state_dict that ``Net`` loads.

    Args:
      variables: ``{'params': ..., 'batch_stats': ...}`` of ``CNN`` (numpy or jax arrays,
        any float dtype, kept as is).
      num_batches_tracked: the value written to every BatchNorm's counter (int64, shape
        ()): the number of train steps the variables went through where it is known, else
        0. It does not change Net's outputs (momentum 0.1 ignores it).

    Returns:
      ``{torch key: numpy array}`` in Net's key order and PyTorch's layouts; wrap with
      ``torch.from_numpy`` (or ``save_state_dict_file``) for ``Net.load_state_dict``.

    Raises:
      ValueError: a missing, unexpected or wrong-shaped variable, named; a negative count.
    """
    _check_variables(variables)
    if int(num_batches_tracked) != num_batches_tracked or num_batches_tracked < 0:
        raise ValueError(
            f"num_batches_tracked must be an integer >= 0 (the train step count), "
            f"got {num_batches_tracked!r}"
        )
    params = {
        layer: {k: np.asarray(v) for k, v in d.items()} for layer, d in variables["params"].items()
    }
    stats = {
        layer: {k: np.asarray(v) for k, v in d.items()}
        for layer, d in variables["batch_stats"].items()
    }
    sd: dict[str, np.ndarray] = {}
    for name, index in TORCH_CONV_INDEX.items():
        key = f"conv_layer.{index}"
        sd[f"{key}.weight"] = np.ascontiguousarray(params[name]["kernel"].transpose(3, 2, 0, 1))
        sd[f"{key}.bias"] = params[name]["bias"].copy()
    for name, index in TORCH_BN_INDEX.items():
        key = f"conv_layer.{index}"
        sd[f"{key}.weight"] = params[name]["scale"].copy()
        sd[f"{key}.bias"] = params[name]["bias"].copy()
        sd[f"{key}.running_mean"] = stats[name]["mean"].copy()
        sd[f"{key}.running_var"] = stats[name]["var"].copy()
        sd[f"{key}.{NUM_BATCHES_TRACKED}"] = np.asarray(int(num_batches_tracked), np.int64)
    for name, index in TORCH_FC_INDEX.items():
        key = f"fc_layer.{index}"
        kernel = params[name]["kernel"]
        weight = _fc1_rows_flax_to_torch(kernel) if name == "fc1" else kernel.T
        sd[f"{key}.weight"] = np.ascontiguousarray(weight)
        sd[f"{key}.bias"] = params[name]["bias"].copy()
    return {k: sd[k] for k in TORCH_SHAPES}


def load_state_dict_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a ``torch.save(model.state_dict(), path)`` file as ``{key: numpy array}``.

    Uses ``torch.load(path, map_location='cpu', weights_only=True)``: only tensors and
    plain containers are unpickled, never arbitrary objects. Keys are not checked here
    (``state_dict_to_variables`` does).

    Raises:
      ValueError: the file is missing, not a torch file, or does not hold a dict of tensors.
    """
    torch = import_torch("reading or writing .pt files")
    if not os.path.isfile(path):
        raise ValueError(f"state_dict file {os.fspath(path)!r} does not exist")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(
            f"cannot read {os.fspath(path)!r} as a PyTorch state_dict with weights_only=True: {e}"
        ) from e
    if not isinstance(loaded, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise ValueError(
            f"{os.fspath(path)!r} does not hold a state_dict (a dict of tensors): save it with "
            "torch.save(model.state_dict(), path)"
        )
    return {k: v.detach().cpu().numpy() for k, v in loaded.items()}


def save_state_dict_file(state_dict: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Writes ``{key: array}`` as torch tensors with ``torch.save``, readable by
    ``Net().load_state_dict(torch.load(path, weights_only=True))``."""
    torch = import_torch("reading or writing .pt files")
    tensors = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in state_dict.items()}
    torch.save(tensors, path)


def export_checkpoint(
    workdir: str | os.PathLike, out_pt: str | os.PathLike, *, step: int | None = None
) -> dict[str, np.ndarray]:
    """Writes the weights of a hw4jax training run's checkpoint as a PyTorch state_dict.

    Restores ``workdir``'s latest checkpoint (or ``step``) with
    ``hw4jax.training.checkpoints.restore_state``
    (which reads the run's optimizer settings from the checkpoint), converts its params and
    batch_stats with ``variables_to_state_dict`` (``num_batches_tracked`` = the state's
    step: every train step updates each BatchNorm once) and saves them to ``out_pt``, which
    ``Net().load_state_dict(torch.load(out_pt, weights_only=True))`` loads.

    Returns:
      The state_dict written, as numpy arrays.

    Raises:
      ValueError: no checkpoint in ``workdir`` (or no such ``step``).
    """
    if checkpoints.latest_step(workdir) is None:
        raise ValueError(
            f"no checkpoint in {os.fspath(workdir)!r}: point it at a training run's workdir "
            "(python scripts/train.py --workdir ...)"
        )
    if step is not None:
        steps = checkpoints.checkpoint_manager(workdir, read_only=True).all_steps()
        if step not in steps:
            raise ValueError(
                f"no checkpoint of step {step} in {os.fspath(workdir)!r}: it has steps "
                f"{sorted(steps)}"
            )
    state, _ = checkpoints.restore_state(workdir, step=step)
    state_dict = variables_to_state_dict(
        {"params": state.params, "batch_stats": state.batch_stats},
        num_batches_tracked=int(np.asarray(state.step)),
    )
    save_state_dict_file(state_dict, out_pt)
    return state_dict
