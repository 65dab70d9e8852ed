"""The per-step history of a run: ``steps.csv``, one line per optimizer step, appended.

Each line is ``step,loss,l2_penalty`` (the step's data loss and its L2 penalty; 0 without
``reg``). The trainer appends the lines of the steps since its last save in one ``write`` each
time it checkpoints, *before* the checkpoint, so the file always holds at least every step the
checkpoint has seen; a resumed run cuts it back to the checkpoint's step (``truncate``), so no
step is lost or counted twice. ``checkpoint/state.json`` keeps only per-epoch data, whatever
the run's length.

>>> import tempfile, pathlib
>>> run = pathlib.Path(tempfile.mkdtemp())
>>> append(run, [(1, 2.5, 0.125), (2, 2.25, 0.125)], start=True)
>>> append(run, [(3, float("nan"), 0.0)])
>>> read(run)[1:]
[(2, 2.25, 0.125), (3, nan, 0.0)]
>>> _ = truncate(run, 2); [s for s, _, _ in read(run)]
[1, 2]
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from chainrule.train import checkpoint

FILE = "steps.csv"
HEADER = "step,loss,l2_penalty\n"
Row = tuple[int, float, float]


def _lines(rows: Iterable[Row]) -> str:
    return "".join(f"{s},{loss!r},{pen!r}\n" for s, loss, pen in rows)


def append(run_dir: str | os.PathLike[str], rows: Iterable[Row], start: bool = False) -> None:
    """Add ``rows`` to the run's ``steps.csv`` in one write (``start``: write the file anew,
    atomically, with its header)."""
    path = Path(run_dir) / FILE
    text = _lines(rows)
    if start or not path.exists():
        checkpoint.atomic_write_bytes(path, (HEADER + text).encode())
        return
    if not text:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read(run_dir: str | os.PathLike[str]) -> list[Row]:
    """The rows of the run's ``steps.csv`` (none if there is no file); a last line cut short by
    a crash is left out; any other bad line is a ValueError naming the file and line."""
    path = Path(run_dir) / FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: unreadable ({e})") from None
    lines = text.split("\n")
    if lines[0] + "\n" != HEADER:
        raise ValueError(f"{path}: not a chainrule steps file (expected the header {HEADER!r})")
    rows: list[Row] = []
    for n, line in enumerate(lines[1:-1], start=2):  # lines[-1]: after the last newline
        try:
            s, loss, pen = line.split(",")
            rows.append((int(s), float(loss), float(pen)))
        except ValueError:
            raise ValueError(
                f"{path}, line {n}: expected step,loss,l2_penalty, got {line[:60]!r}"
            ) from None
        if rows[-1][0] != len(rows):
            raise ValueError(f"{path}, line {n}: step {rows[-1][0]}, expected {len(rows)}")
    return rows


def truncate(run_dir: str | os.PathLike[str], step: int) -> list[Row]:
    """Cut the run's ``steps.csv`` back to its first ``step`` steps (rewritten atomically);
    returns those rows."""
    rows = read(run_dir)[:step]
    append(run_dir, rows, start=True)
    return rows
