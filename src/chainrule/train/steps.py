"""The per-step history of a run: ``steps.csv``, one line per optimizer step, appended.

Each line is ``step,loss,l2_penalty`` (the step's data loss and its L2 penalty; 0 without
``reg``). The trainer appends the lines of the steps since its last save in one ``write`` each
time it checkpoints, *before* the checkpoint, so the file always holds at least every step the
checkpoint has seen (``save``: a write cut short is noticed at the next save, which rewrites
the file); a resumed run cuts it back to the checkpoint's step (``truncate``), so no
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
    data = memoryview(text.encode())
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        while data:  # a short write goes on where it stopped (or raises: disk full)
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_step(path: Path) -> int | None:
    """The step of the file's last line (0: the header alone), or None when that line is cut
    short (a write that a full disk or a kill stopped) or cannot be read."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 512))
            tail = f.read()
    except OSError:
        return None
    if not tail.endswith(b"\n"):
        return None
    lines = tail.split(b"\n")
    if len(lines) < 3 and size > len(tail):
        return None  # one line longer than the window: not ours
    last = lines[-2]
    if last + b"\n" == HEADER.encode():
        return 0
    try:
        return int(last.split(b",", 1)[0])
    except ValueError:
        return None


def save(
    run_dir: str | os.PathLike[str],
    losses: list[float],
    penalties: list[float],
    saved: int | None,
) -> int:
    """Bring the run's ``steps.csv`` up to date with a trainer's lists, where ``saved`` steps
    are in the file already (None: unknown, write it anew). The new lines are appended when
    the file ends with step ``saved``; otherwise (a write cut short, a file changed meanwhile)
    it is rewritten whole, atomically. Returns the steps now in the file.

    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> save(run, [1.0, 0.5], [0.0, 0.0], None), save(run, [1.0, 0.5, 0.25], [0.0] * 3, 2)
    (2, 3)
    >>> [s for s, _, _ in read(run)]
    [1, 2, 3]
    """
    rows = list(zip(range(1, len(losses) + 1), losses, penalties, strict=True))
    path = Path(run_dir) / FILE
    if saved is None or _last_step(path) != saved:
        append(run_dir, rows, start=True)
    else:
        append(run_dir, rows[saved:])
    return len(rows)


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
