"""Deprecated alias of ``hw4jax.training.reports``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.training.reports import (  # noqa: F401
    EVAL_RESULTS_FILE,
    METRICS_FILE,
    PLOT_FILE,
    RESULTS_FILE,
    accuracy_table,
    epoch_line,
    plot_history,
    write_history,
    write_results,
)

warn_moved(__name__, "hw4jax.training.reports")
