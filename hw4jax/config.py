"""Deprecated alias of ``hw4jax.training.config``: importing it gives that module (kept for
one release after hw4jax was split into subpackages)."""

from hw4jax._moved import alias_module

alias_module(__name__, "hw4jax.training.config")
