"""Deprecated alias of ``hw4jax.pytorch.parity``: importing it gives that package (kept for
one release after hw4jax was split into subpackages)."""

from hw4jax._moved import alias_module

alias_module(__name__, "hw4jax.pytorch.parity")
