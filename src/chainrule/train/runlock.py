"""An exclusive lock on a run directory, so that two ``chainrule train --out SAME`` cannot both
train into it.

``acquire(run_dir)`` creates the directory if need be, then takes an exclusive ``flock`` on its
``.lock`` file and writes this process's pid there; a second process (or a second acquire in this
one) gets ``RunLockedError`` naming the holder's pid. The lock lasts until ``release`` or the end of
the process (the kernel drops it then, even after SIGKILL: no stale lock to clean up).

>>> import tempfile, pathlib
>>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> held = acquire(run)
>>> try:
...     acquire(run)
... except RunLockedError as e:
...     print(f"(pid {os.getpid()})" in str(e))
True
>>> release(held); release(acquire(run))
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None  # type: ignore[assignment]

LOCK = ".lock"


class RunLockedError(Exception):
    """The run directory is held by another training process."""


def acquire(run_dir: str | os.PathLike[str]) -> IO[str]:
    """Take the exclusive lock of ``run_dir`` (made if missing); returns the open lock file."""
    path = Path(run_dir) / LOCK
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")  # noqa: SIM115 - held open for as long as the lock
    if fcntl is not None:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = ""
            for _ in range(40):  # the holder writes its pid just after taking the lock
                f.seek(0)
                holder = f.read().strip()
                if holder:
                    break
                time.sleep(0.025)
            f.close()
            holder = holder or "unknown"
            raise RunLockedError(
                f"{run_dir} is in use by another chainrule train (pid {holder}): wait for it to "
                "finish, or choose another --out"
            ) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def release(f: IO[str]) -> None:
    """Drop a lock taken by ``acquire``."""
    if not f.closed:
        f.close()
