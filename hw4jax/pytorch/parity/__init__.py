"""Numerical parity of hw4jax with the homework's PyTorch code, as one table of checks.

From the same weights (a PyTorch ``Net`` trained for a few steps, so that weights and
BatchNorm statistics are off their initial values, or a given state_dict) and the same
batches, both frameworks compute: eval logits, train-mode logits and loss (dropout off),
the gradient of every parameter, BatchNorm running statistics after a train step, and the
parameters and statistics after k steps of Adam, SGD and SGD with momentum. Both start
from the float32 values of the weights and images, in both precisions.

float64 on both sides (JAX x64 scoped to the check, ``.double()`` in torch) proves the two
programs are the same function: every row within 1e-10 normwise relative error
(``max|got - want| / max|want|``), but Adam's parameters: 1e-9 (where |gradient| < eps,
Adam's step is about lr * g / eps, so rounding reaches the parameters times lr / eps = 1e5).

float32, as users run it, is judged by a criterion that no machine can move: each
framework's float32 result is compared with the float64 result from the same float32
inputs, and hw4jax passes when its error is within 4 times PyTorch's plus 4 float32 ulps of
the quantity's scale (``compare_to_reference``). On a CPU whose kernels round differently
(vector width, FMA, summation order) both errors move together; a fixed tolerance does not.
Three refinements make the criterion exact rather than lucky:

  * Branches. A ReLU or a max-pool decides (x > 0? which input is largest?); where exact
    arithmetic puts the candidates closer than float32 rounding, a float32 run may decide
    otherwise. Values barely move, but the gradient takes another route, by far more than
    rounding. Each float32 run records its decisions, and its gradients and steps are
    compared with float64 on that same branch (hw4jax's model made to follow the decisions
    through ``flax.linen.intercept_methods``; the float64 rows show it is PyTorch's
    function). The report counts the decisions that differed from exact arithmetic.
  * Adam divides each gradient by its running RMS, so a gradient's rounding reaches an
    element whose gradients stay small multiplied by up to lr / eps; its parameter rows
    measure both frameworks' errors in units of what float32 can cause at each element
    (``_adam_float32_rows``). optax also computes Adam's bias corrections 1 - b^t in
    float32, which costs each step a relative error of about 1e-5 that torch's float64
    corrections do not have: a derived allowance (``optax_adam_step_error``).
  * The conv biases that feed a BatchNorm (conv1, conv3, conv5) have an exactly zero
    gradient in train mode; both frameworks return rounding noise there. Adam turns that
    noise into steps of up to lr with random sign, so those rows hold hw4jax and PyTorch to
    Adam's step-size bound (``adam_step_ratio_bound``): a bound, not a parity proof (the
    float64 rows are the proof).

Plus the 2-2-1 network of Question 2 (``hw4jax.backprop`` against torch autograd) and the
augmentation golden fixtures (``hw4jax.augment`` against torchvision's outputs).

The modules: ``criteria`` (the rows' measures, tolerances and Adam's derived bounds),
``computed``/``jax_side``/``torch_side``/``runs`` (what each framework computes, once),
``cnn_rows`` and ``question_rows`` (one function per family of rows), ``report`` (the whole
check, the table, JSON).

Nothing here changes a global JAX or torch setting for longer than the check: float64
runs under ``jax.enable_x64(True)``, the matmul precision under
``jax.default_matmul_precision('highest')``, and torch's TF32 switches are restored.
"""

from hw4jax.pytorch.parity.cnn_rows import cnn_rows
from hw4jax.pytorch.parity.computed import Computed, float32_inputs
from hw4jax.pytorch.parity.criteria import (
    BN_FED_CONVS,
    EPS32,
    F32_FACTOR,
    F32_ULPS,
    F64_ADAM_REL,
    F64_NOISE_ABS,
    F64_REL,
    OPTIMIZER_NAMES,
    Row,
    adam_step_ratio_bound,
    compare,
    compare_to_reference,
    is_bn_fed_bias,
    optax_adam_step_error,
)
from hw4jax.pytorch.parity.question_rows import (
    AUGMENT_BACKENDS,
    AUGMENT_GOLDEN,
    AUGMENT_REQUIRED,
    augment_rows,
    backprop_rows,
)
from hw4jax.pytorch.parity.report import (
    DEVICES,
    all_passed,
    check_device,
    crosscheck,
    format_table,
    rows_as_json,
)
from hw4jax.pytorch.parity.runs import CnnRuns, branch_differences, compute_cnn
from hw4jax.pytorch.parity.torch_side import make_batches, trained_torch_state_dict

__all__ = [
    "AUGMENT_BACKENDS",
    "AUGMENT_GOLDEN",
    "AUGMENT_REQUIRED",
    "BN_FED_CONVS",
    "DEVICES",
    "EPS32",
    "F32_FACTOR",
    "F32_ULPS",
    "F64_ADAM_REL",
    "F64_NOISE_ABS",
    "F64_REL",
    "OPTIMIZER_NAMES",
    "CnnRuns",
    "Computed",
    "Row",
    "adam_step_ratio_bound",
    "all_passed",
    "augment_rows",
    "backprop_rows",
    "branch_differences",
    "check_device",
    "cnn_rows",
    "compare",
    "compare_to_reference",
    "compute_cnn",
    "crosscheck",
    "float32_inputs",
    "format_table",
    "is_bn_fed_bias",
    "make_batches",
    "optax_adam_step_error",
    "rows_as_json",
    "trained_torch_state_dict",
]
