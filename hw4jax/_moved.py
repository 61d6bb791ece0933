"""Old module paths (before the subpackages) kept as aliases for one release.

Each alias module re-exports its new module's public names and calls ``warn_moved`` on
import; the README lists them under "Deprecated module paths".
"""

from __future__ import annotations

import warnings


def warn_moved(old: str, new: str) -> None:
    """A DeprecationWarning that module ``old`` is now ``new``."""
    warnings.warn(
        f"{old} is a deprecated alias of {new} and will be removed in the next "
        f"release: import {new}",
        DeprecationWarning,
        stacklevel=3,
    )
