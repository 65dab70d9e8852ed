"""Two-way splits of NumPy and BLAS calls that release the GIL: scans, sorts and convolutions.

NumPy's cumsum (``add.accumulate``) and sort run on one core and let go of the GIL while they
run; PyTorch splits the same work over its OpenMP threads (2 on the project's machines). A
cumsum along the last axis of a (1024, 1024) float32 array is a scalar loop of ~2.2 ms, so
W11's cumsum forward+backward is ~4.4 ms on one core against PyTorch's ~1.8 ms on two. Cut
into two halves along another axis, one half in a worker thread and one in the caller, the
two run at once. Each element is computed by the same call on the same data either way, so
the results are bitwise those of one call.

Only arrays of at least ``MIN_SIZE`` elements are split (a thread hand-off costs ~20-50 us),
and only where the machine has two cores or more. ``set_enabled(False)`` turns the split off.

>>> import numpy as np
>>> x, out = np.arange(8.0).reshape(2, 4), np.empty((2, 4))
>>> halves(lambda s: np.cumsum(x[s], axis=1, out=out[s]), 2, x.size)
>>> out[1].tolist()
[4.0, 9.0, 15.0, 22.0]
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

MIN_SIZE = 1 << 18  # elements: below this a hand-off costs more than half the work saves
MIN_FLOPS = 1 << 23  # ...and flops (~80 us on one core): the same for ``shared``'s work

T = TypeVar("T")

_state: dict[str, object] = {"enabled": (os.cpu_count() or 1) >= 2, "pool": None}
_lock = threading.Lock()
# a forked child has none of the parent's threads: it starts a pool of its own when it needs one
if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=lambda: _state.update(pool=None))


def set_enabled(enabled: bool) -> None:
    """Split large scans and sorts over two threads (the default on 2+ cores), or never.

    >>> set_enabled(True)
    """
    _state["enabled"] = bool(enabled) and (os.cpu_count() or 1) >= 2


def _pool() -> ThreadPoolExecutor:
    pool = _state["pool"]
    if pool is None:
        with _lock:
            if _state["pool"] is None:
                _state["pool"] = ThreadPoolExecutor(1, thread_name_prefix="chainrule-half")
            pool = _state["pool"]
    assert isinstance(pool, ThreadPoolExecutor)
    return pool


def halves(fn: Callable[[slice], object], n: int, size: int) -> None:
    """``fn(part)`` over ``slice(0, n)``, as two halves run at once when ``size`` (the
    elements of the whole work) is large: ``fn(slice(0, n // 2))`` in a worker thread and
    ``fn(slice(n // 2, n))`` here. ``fn`` must write disjoint outputs for disjoint parts."""
    if n < 2 or size < MIN_SIZE or not _state["enabled"]:
        fn(slice(0, n))
        return
    mid = n // 2
    first = _pool().submit(fn, slice(0, mid))
    try:
        fn(slice(mid, n))
    finally:
        first.result()  # waits, and raises what the worker raised


def worth_sharing(n: int, flops: int) -> bool:
    """Whether ``n`` items of ``flops`` in all are worth ``shared`` between two threads."""
    return n >= 2 and flops >= MIN_FLOPS and bool(_state["enabled"])


def shared(work: Callable[[Iterator[int]], T], items: Iterator[int]) -> list[T]:
    """``work(items)`` in a worker thread and here at once, both drawing from the one iterator
    (``next`` on a built-in iterator is atomic under the GIL): the two results, the caller's
    first. ``work`` must write disjoint outputs for distinct items.

    >>> out = [0] * 6
    >>> def work(items):
    ...     for i in items:
    ...         out[i] = i * i
    ...     return "done"
    >>> shared(work, iter(range(6)))
    ['done', 'done']
    >>> out
    [0, 1, 4, 9, 16, 25]
    """
    other = _pool().submit(work, items)
    try:
        mine = work(items)
    finally:
        theirs = other.result()  # waits, and raises what the worker raised
    return [mine, theirs]
