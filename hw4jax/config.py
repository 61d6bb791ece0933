"""The training run's settings: one frozen, validated dataclass and its defaults.

``get_config()`` is the homework's run (Question 3): 2 epochs of Adam with learning
rate 1e-3, batch size 4 (the homework does not print its batch size; its epoch losses
fit 4), the homework's augmentation, seed 0. ``scripts/train.py`` maps its flags onto
these fields, and ``hw4jax.train.train_and_evaluate`` takes the result.
"""

from __future__ import annotations

import dataclasses
import math

from hw4jax.optimizers import DEFAULT_MOMENTUM, OPTIMIZERS, TORCH_ADAMW_WEIGHT_DECAY


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    """Settings of one training run; construct with ``get_config(**overrides)``.

    Attributes:
      epochs: passes over the training set, >= 1.
      batch_size: the *global* batch (all devices, all hosts); divisible by the device count.
      optimizer: one of ``hw4jax.optimizers.OPTIMIZERS``.
      learning_rate: step size, finite and > 0.
      momentum: for optimizer 'momentum'.
      weight_decay: for optimizer 'adamw'.
      seed: seeds parameter init, dropout and the data order/augmentation.
      augment: apply the homework's augmentation to training images.
      eval_batch_size: global batch for evaluation (the last batch is padded and masked).
      train_examples: use only the first N training examples (None: all).
      test_examples: use only the first N test examples (None: all).
      data_dir: where tfds keeps the prepared dataset (None: tfds's default).
      archive: a local CIFAR-10 binary archive to prepare offline from, when the dataset
        is not prepared in ``data_dir`` (None: never prepare).
      checkpoints_to_keep: how many epoch checkpoints orbax keeps.
      check_every_steps: every N steps the host reads the running loss sum (one small
        device-to-host copy) to stop on a NaN/inf loss and to update the progress display.
      resume: continue from the latest checkpoint in the workdir.
      eval_only: only evaluate the latest checkpoint in the workdir.
      distributed: call ``jax.distributed.initialize()`` first (multi-host launch). With
        the three fields below None, JAX detects the cluster (SLURM, Open MPI, Kubernetes,
        Cloud TPU; ``$JAX_COORDINATOR_ADDRESS`` is read too).
      coordinator_address: 'host:port' of process 0, for a launch JAX cannot detect.
      num_processes: how many processes (hosts) take part.
      process_id: this process's index in [0, num_processes).
      progress: show a progress display during each epoch.
    """

    epochs: int = 2
    batch_size: int = 4
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = DEFAULT_MOMENTUM
    weight_decay: float = TORCH_ADAMW_WEIGHT_DECAY
    seed: int = 0
    augment: bool = True
    eval_batch_size: int = 256
    train_examples: int | None = None
    test_examples: int | None = None
    data_dir: str | None = None
    archive: str | None = None
    checkpoints_to_keep: int = 3
    check_every_steps: int = 100
    resume: bool = False
    eval_only: bool = False
    distributed: bool = False
    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        def positive(name: str, *, optional: bool = False) -> None:
            value = getattr(self, name)
            if optional and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}: pass e.g. {flag} 4")

        for name in ("epochs", "batch_size", "eval_batch_size", "checkpoints_to_keep",
                     "check_every_steps"):
            positive(name)
        for name in ("train_examples", "test_examples"):
            positive(name, optional=True)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer {self.optimizer!r} is unknown: choose one of {', '.join(OPTIMIZERS)}"
            )
        if not (isinstance(self.learning_rate, (int, float)) and math.isfinite(self.learning_rate)
                and self.learning_rate > 0):
            raise ValueError(
                f"learning_rate must be a finite number > 0, got {self.learning_rate!r}: "
                "pass e.g. --learning-rate 1e-3"
            )
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.train_examples is not None and self.train_examples < self.batch_size:
            raise ValueError(
                f"train_examples ({self.train_examples}) is smaller than one batch "
                f"({self.batch_size}): raise --train-examples or lower --batch-size"
            )
        positive("num_processes", optional=True)
        if self.process_id is not None and not (
                self.num_processes is not None and 0 <= self.process_id < self.num_processes):
            raise ValueError(
                f"process_id {self.process_id!r} needs --num-processes and must lie in "
                "[0, num_processes)"
            )
        if not self.distributed and (self.coordinator_address or self.num_processes
                                     or self.process_id is not None):
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
        raise ValueError(f"unknown config field(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")
    return Config(**overrides)
