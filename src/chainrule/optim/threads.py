"""Threads for large optimizer steps, and the step pre-hooks (``chainrule.optim``).

>>> from chainrule import optim
>>> optim.get_num_threads() >= 1
True
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable
from typing import Any

CHUNK = 1 << 17  # elements per job when a step is split across threads (512 KiB of float32)
PARALLEL_MIN = 1 << 17  # below this many parameter elements a step runs on one thread
_threads: dict[str, Any] = {"n": None, "pool": None, "pid": None}


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads for optimizer steps on large models (1 turns threading off).

    An update is a few elementwise NumPy passes per parameter, one core each; NumPy releases
    the GIL inside them, so splitting the parameters into chunks across threads runs the passes
    in parallel (as PyTorch's multi-threaded elementwise kernels do). The default is half the
    cores this process may use, at most 4: right after a step's matrix products the BLAS
    library's threads still spin on the cores, and on a 2-core machine a second optimizer
    thread measured no faster (W3: 3.9 ms/step on one thread, 4.0-4.4 on two).

    >>> from chainrule import optim
    >>> optim.set_num_threads(1); optim.get_num_threads()
    1
    >>> optim.set_num_threads(None)  # back to the default
    """
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"set_num_threads: n must be a positive int or None, got {n!r}")
    _threads["n"] = n


def get_num_threads() -> int:
    """The number of threads optimizer steps use (see ``set_num_threads``)."""
    n = _threads["n"]
    if n is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        n = _threads["n"] = max(1, min(4, cores // 2))
    return int(n)


def run_parallel(update: Any, jobs: list[tuple[Any, ...]], threads: int) -> None:
    """Run the jobs on ``threads`` threads (this one included), balanced by size."""
    pool = _threads["pool"]
    if pool is None or _threads["pid"] != os.getpid() or pool._max_workers != threads - 1:
        # a pool inherited through fork() has no live threads: make a new one
        pool = _threads["pool"] = concurrent.futures.ThreadPoolExecutor(
            threads - 1, thread_name_prefix="chainrule-optim"
        )
        _threads["pid"] = os.getpid()
    groups: list[list[tuple[Any, ...]]] = [[] for _ in range(threads)]
    load = [0] * threads
    for job in sorted(jobs, key=lambda j: -j[0].size):
        k = load.index(min(load))
        groups[k].append(job)
        load[k] += job[0].size

    def work(group: list[tuple[Any, ...]]) -> None:
        for job in group:
            update(*job)

    futures = [pool.submit(work, g) for g in groups[1:] if g]
    try:
        work(groups[0])
    finally:
        for f in futures:
            f.result()  # re-raises a worker's exception


step_pre_hooks: dict[int, Callable[[Any], None]] = {}


def register_optimizer_step_pre_hook(hook: Callable[[Any], None]) -> Callable[[], None]:
    """Call ``hook(optimizer)`` at the start of every optimizer's ``step()`` (PyTorch's name);
    returns a function that removes it. ``chainrule.distributed.DataParallel`` waits for its
    gradient allreduces here.

    >>> from chainrule import nn, optim
    >>> seen = []
    >>> remove = optim.register_optimizer_step_pre_hook(lambda opt: seen.append(opt.steps))
    >>> w = nn.Parameter([1.0]); w.grad = nn.Parameter([1.0])
    >>> opt = optim.SGD([w], lr=0.1); opt.step(); remove(); opt.step()
    >>> seen
    [0]
    """
    key = id(hook)
    step_pre_hooks[key] = hook
    return lambda: step_pre_hooks.pop(key, None) and None
