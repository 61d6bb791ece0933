"""What every hw4jax script shares on the command line: bad input is one line and exit 2."""

from __future__ import annotations

import argparse
import sys

EXIT_BAD_INPUT = 2


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line, ``error: ...`` on stderr,
    and exit status 2: the same shape as the scripts' other bad-input errors (argparse's own
    would print the whole usage block first)."""

    def error(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
