"""The training run's settings: one frozen, validated dataclass, its defaults and its flags.

``get_config()`` is the homework's run (Question 3): 2 epochs of Adam with learning
rate 1e-3, batch size 4 (the homework does not print its batch size; its epoch losses
fit 4), the homework's augmentation, seed 0. Every field carries its command-line help in
its metadata: ``scripts/train.py``'s flags are generated from the fields
(``hw4jax.cli.add_dataclass_flags``), and ``config_from_flags`` turns parsed flags back
into a ``Config``. All validation is in ``Config.__post_init__``.
"""

from __future__ import annotations

import argparse
import dataclasses

from hw4jax import cli
from hw4jax.training.optimizers import (
    DEFAULT_LEARNING_RATES,
    DEFAULT_MOMENTUM,
    OPTIMIZERS,
    TORCH_ADAMW_WEIGHT_DECAY,
    check_hyperparameters,
)

# Where training batches are built (Config.input): tf.data on the host, or inside the jitted
# step from uint8 splits on the device (hw4jax.training.device_input).
INPUTS = ("host", "device")


def _field(default, help: str, **flag):
    """A dataclass field whose metadata holds its flag's help (and any flag options:
    ``flag`` name, ``choices``, ``flag_default``)."""
    return dataclasses.field(default=default, metadata={"help": help, **flag})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    """Settings of one training run; construct with ``get_config(**overrides)``.

    Each field's meaning is its ``help`` (``dataclasses.fields(Config)[i].metadata``), the
    same text ``scripts/train.py --help`` prints (for ``augment`` and ``progress``, which
    default to True, the help of the switch that turns them off: ``--no-augment``,
    ``--no-progress``). ``batch_size`` and ``eval_batch_size``
    are global (all devices, all hosts) and must split evenly over the devices.
    ``distributed`` and the three fields after it describe the launch: the entry point
    (``scripts/train.py``) calls ``jax.distributed.initialize`` with them before training.
    """

    epochs: int = _field(2, "passes over the training set")
    batch_size: int = _field(4, "global batch (all devices)")
    optimizer: str = _field("adam", "with torch.optim's semantics and defaults", choices=OPTIMIZERS)
    learning_rate: float = _field(
        1e-3, "default: the optimizer's torch.optim default (adam 1e-3)", flag_default=None
    )
    momentum: float = _field(DEFAULT_MOMENTUM, "for --optimizer momentum", flag_default=None)
    weight_decay: float = _field(
        TORCH_ADAMW_WEIGHT_DECAY, "for --optimizer adamw", flag_default=None
    )
    seed: int = _field(0, "seeds parameter init, dropout and the data order/augmentation")
    augment: bool = _field(True, "train without augmentation")
    eval_batch_size: int = _field(
        256, "global evaluation batch (the last batch is padded and masked)"
    )
    train_examples: int | None = _field(None, "use the first N only")
    test_examples: int | None = _field(None, "use the first N only")
    data_dir: str | None = _field(None, "tfds data directory (default: tfds's)")
    archive: str | None = _field(
        None,
        "CIFAR-10 binary archive to prepare the dataset from, offline, when it is not "
        "prepared in --data-dir",
    )
    input: str = _field(
        "host",
        "where training and test batches are built: 'host', tf.data augments them on the "
        "CPU; 'device', the uint8 splits stay on the device and the order, augmentation and "
        "normalisation run inside the jitted steps, giving the same batches (one process "
        "only)",
        choices=INPUTS,
    )
    steps_per_call: int = _field(
        1,
        "train steps per jitted call (lax.scan over K batches: the same weights as K "
        "calls, faster on CPU)",
    )
    checkpoints_to_keep: int = _field(3, "epoch checkpoints orbax keeps", flag="--keep-checkpoints")
    check_every_steps: int = _field(
        100,
        "steps between NaN checks and progress updates (each reads the running loss "
        "sum from the device)",
        flag="--check-every",
    )
    resume: bool = _field(False, "continue from the latest checkpoint in --workdir")
    eval_only: bool = _field(False, "evaluate the latest checkpoint in --workdir")
    distributed: bool = _field(
        False,
        "multi-host: call jax.distributed.initialize() first (the cluster is detected "
        "on SLURM, Open MPI, Kubernetes, Cloud TPU)",
    )
    coordinator_address: str | None = _field(
        None, "with --distributed where JAX cannot detect the cluster: process 0's host:port"
    )
    num_processes: int | None = _field(None, "with --coordinator-address")
    process_id: int | None = _field(None, "with --coordinator-address")
    progress: bool = _field(True, "no progress bar/lines")

    def __post_init__(self) -> None:
        for name in (
            "epochs",
            "batch_size",
            "eval_batch_size",
            "checkpoints_to_keep",
            "check_every_steps",
            "steps_per_call",
        ):
            self._check_positive(name)
        for name in ("train_examples", "test_examples", "num_processes"):
            self._check_positive(name, optional=True)
        check_hyperparameters(
            self.optimizer,
            self.learning_rate,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
        )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.train_examples is not None and self.train_examples < self.batch_size:
            raise ValueError(
                f"train_examples ({self.train_examples}) is smaller than one batch "
                f"({self.batch_size}): raise --train-examples or lower --batch-size"
            )
        self._check_input()
        self._check_launch()

    def _check_positive(self, name: str, *, optional: bool = False) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}: pass e.g. {flag} 4")

    def _check_input(self) -> None:
        if self.input not in INPUTS:
            raise ValueError(
                f"input must be one of {', '.join(INPUTS)}, got {self.input!r}: pass e.g. "
                "--input device"
            )

    def _check_launch(self) -> None:
        if self.process_id is not None and not (
            self.num_processes is not None and 0 <= self.process_id < self.num_processes
        ):
            raise ValueError(
                f"process_id {self.process_id!r} needs --num-processes and must lie in "
                "[0, num_processes)"
            )
        if not self.distributed and (
            self.coordinator_address or self.num_processes or self.process_id is not None
        ):
            raise ValueError(
                "coordinator_address / num_processes / process_id need distributed: "
                "pass --distributed"
            )
        if self.resume and self.eval_only:
            raise ValueError("resume and eval_only exclude each other: pass one of them")

    def replace(self, **changes) -> Config:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return dataclasses.asdict(self)


def get_config(**overrides) -> Config:
    """The homework's run (2 epochs, Adam 1e-3, batch 4, augmentation, seed 0) with ``overrides``.

    Raises:
      ValueError: an unknown field name, or a value out of range (the message names the
        field and the fix).
    """
    known = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"unknown config field(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}"
        )
    return Config(**overrides)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per ``Config`` field (``--batch-size``, ``--no-augment``, ...)."""
    cli.add_dataclass_flags(parser, Config)


def config_from_flags(args: argparse.Namespace) -> Config:
    """The ``Config`` of flags parsed by a parser with ``add_config_flags``: flags left at
    None take the field's default, and the learning rate the optimizer's torch.optim
    default (``DEFAULT_LEARNING_RATES``).

    Raises:
      ValueError: a value out of range (see ``Config``).
    """
    values = cli.dataclass_values(Config, args)
    values.setdefault("learning_rate", DEFAULT_LEARNING_RATES[values["optimizer"]])
    return get_config(**values)
