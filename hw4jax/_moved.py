"""Old module paths (before the subpackages) kept as aliases for one release.

An alias module calls ``alias_module`` (it becomes its new module: every name, private ones
and monkeypatching included) or, where the old module's names now live in several
modules, re-exports them and calls ``warn_moved``. The README lists them under "What is
where".
"""

from __future__ import annotations

import importlib
import sys
import warnings


def warn_moved(old: str, new: str, *, stacklevel: int = 3) -> None:
    """A DeprecationWarning that module ``old`` is now ``new``, attributed to the code that
    imports ``old`` (import machinery frames are skipped)."""
    warnings.warn(
        f"{old} is a deprecated alias of {new} and will be removed in the next "
        f"release: import {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def alias_module(old: str, new: str) -> None:
    """Makes the module being imported as ``old`` the module ``new`` itself (after a
    DeprecationWarning), so that ``import old`` and ``import new`` give one object."""
    warn_moved(old, new, stacklevel=4)
    sys.modules[old] = importlib.import_module(new)
