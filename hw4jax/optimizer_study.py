"""Deprecated alias of ``hw4jax.studies.optimizer_study``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.studies.fingerprints import (  # noqa: F401
    start_fingerprint,
    tree_fingerprint,
)
from hw4jax.studies.optimizer_report import (  # noqa: F401
    format_study_table,
    format_tiny_net,
    plot_study,
    plot_tiny_net,
)
from hw4jax.studies.optimizer_study import (  # noqa: F401
    CURVE_POINTS_PER_EPOCH,
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_OPTIMIZERS,
    DEFAULT_TEST_EXAMPLES,
    DEFAULT_TRAIN_EXAMPLES,
    PLOT_FILE,
    RESULTS_FILE,
    TINY_ITERATIONS,
    TINY_LEARNING_RATE,
    TINY_PLOT_FILE,
    TINY_RESULTS_FILE,
    OptimizerSpec,
    StudyConfig,
    StudyMismatchError,
    check_same_start_and_data,
    parse_optimizer_specs,
    run_cifar10_study,
    run_study,
    tiny_net_losses,
    write_tiny_net,
)

warn_moved(__name__, "hw4jax.studies.optimizer_study")
