"""Helpers shared by the tests: counting JAX compilations, running a child process on
simulated CPU devices."""

import contextlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import jax

REPO = Path(__file__).resolve().parents[1]


class _CompileCounter(logging.Handler):
    """Counts jax's "Compiling <name> ..." log records (emitted under jax.log_compiles)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.names = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Compiling "):
            self.names.append(message.split()[1])  # e.g. 'jit(train_step)'


@contextlib.contextmanager
def count_compiles():
    """Yields a list that collects the names of the functions JAX compiles in the block."""
    counter = _CompileCounter()
    jax_logger = logging.getLogger("jax")
    jax_logger.addHandler(counter)
    try:
        with jax.log_compiles(True):
            yield counter.names
    finally:
        jax_logger.removeHandler(counter)


def run_on_cpu_devices(code: str, *, devices: int = 4, timeout: int = 600) -> dict:
    """Runs ``code`` in a child interpreter that sees ``devices`` simulated CPU devices
    (the device count is fixed when JAX starts, so it cannot change in this process) and
    returns the JSON object its last line of output prints."""
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(REPO),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    child = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])
