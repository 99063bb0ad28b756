"""Shared command-line plumbing: user mistakes become one-line errors with exit code 2."""

from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

from gosvae.errors import UserError


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Call ``main(argv)``; a :class:`UserError` prints ``error: MESSAGE`` on stderr and returns 2.

    ``KeyboardInterrupt`` returns 130 after saying that finished work was kept. A closed stdout
    (``gosvae zoo | head``) ends the command quietly, as Unix tools do.
    """
    try:
        return main(argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is saved; rerun with --resume to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
