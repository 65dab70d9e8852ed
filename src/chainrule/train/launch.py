"""``chainrule train`` on several MPI ranks: ``--ranks N`` relaunches the command through
``mpiexec -n N``; under MPI, rank 0 alone decides the run directory and writes the run's files,
and the other ranks follow its decision (or its usage error).

>>> on_main(lambda: {"out": "runs/x"})    # world size 1: just the call
{'out': 'runs/x'}
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from chainrule import distributed as dist


class LaunchError(Exception):
    """The command line cannot run on MPI ranks (no mpiexec, or an error on rank 0)."""


def mpiexec() -> str | None:
    """The ``mpiexec`` beside this Python (the mpich wheel's), else the one on PATH."""
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def without_ranks(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--ranks N`` / ``--ranks=N`` taken out.

    >>> without_ranks(["train", "--ranks", "4", "--epochs", "2", "--ranks=2"])
    ['train', '--epochs', '2']
    """
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--ranks":
            skip = True
        elif not a.startswith("--ranks="):
            out.append(a)
    return out


def relaunch(argv: Sequence[str], ranks: int) -> int:
    """Run ``chainrule ARGV`` (without ``--ranks``) on ``ranks`` MPI ranks; its exit status."""
    exe = mpiexec()
    if exe is None:
        raise LaunchError(
            "--ranks needs MPI's mpiexec: pip install 'chainrule[mpi]' (mpi4py and mpich)"
        )
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise LaunchError("--ranks needs mpi4py: pip install 'chainrule[mpi]'") from None
    cmd = [exe, "-n", str(ranks), sys.executable, "-m", "chainrule", *without_ranks(argv)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    return subprocess.call(cmd, env=env)


def on_main(fn: Callable[[], Any]) -> Any:
    """``fn()`` on rank 0, its (JSON-able) result on every rank; an exception on rank 0 is
    raised on every rank as ``LaunchError`` (rank 0 re-raises its own)."""
    if dist.world_size() == 1:
        return fn()
    comm = dist._world["comm"]
    error: BaseException | None = None
    payload = ""
    if dist.is_main():
        try:
            payload = json.dumps({"ok": fn()})
        except Exception as e:  # every rank must learn of it, or they would wait forever
            error = e
            payload = json.dumps({"error": str(e)})
    payload = comm.bcast(payload, root=0)  # a str
    if error is not None:
        raise error
    message = json.loads(payload)
    if "error" in message:
        raise LaunchError(message["error"])
    return message["ok"]
