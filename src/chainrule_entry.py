"""The ``chainrule`` console script's entry point: Ctrl-C exits 130 from the very start.

Importing ``chainrule`` takes a while (NumPy first): a Ctrl-C in that time would interrupt
NumPy's import and end in its ImportError traceback. This module imports nothing heavy, so it
is running before any of that: it installs a SIGINT handler that exits at once with status 130
and one line, imports the command, then hands SIGINT back to Python (the command's own
handling: a training run saves a checkpoint).
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted(signum: int, frame: object) -> None:
    os.write(2, b"chainrule: interrupted\n")
    os._exit(130)  # nothing to save yet; skip the interpreter's teardown of half-done imports


def main() -> int:
    """Run the ``chainrule`` command with SIGINT handled from the first instant."""
    previous = signal.signal(signal.SIGINT, _interrupted)
    try:
        from chainrule import cli
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        return int(cli.main())
    except KeyboardInterrupt:  # outside main's own handling (building the parser)
        print("chainrule: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
