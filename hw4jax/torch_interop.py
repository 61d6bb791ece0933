"""Deprecated alias of ``hw4jax.pytorch.interop``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.pytorch.interop import (  # noqa: F401
    FLATTEN_HWC,
    FLAX_SHAPES,
    IN_CHANNELS,
    NUM_BATCHES_TRACKED,
    TORCH_SHAPES,
    export_checkpoint,
    load_state_dict_file,
    save_state_dict_file,
    state_dict_to_variables,
    variables_to_state_dict,
)
from hw4jax.pytorch.layout import (  # noqa: F401
    TORCH_BN_INDEX,
    TORCH_CONV_INDEX,
    TORCH_FC_INDEX,
)

warn_moved(__name__, "hw4jax.pytorch.interop")
