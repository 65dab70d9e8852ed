"""``tune_malloc``: an opt-in glibc setting that keeps large arrays' memory between steps.

glibc serves allocations above ``M_MMAP_THRESHOLD`` (adaptive, starting at 128 KiB) with a fresh
``mmap`` and returns them to the kernel on free, so every training step pays page faults again
for its activations and gradients. Raising the mmap threshold and the trim threshold lets the
heap keep and reuse that memory: measured here, a 784-512-512-10 MLP step's GEMMs went from
3.05 ms to 1.94 ms. The cost is memory held by the process after the arrays are freed.

This changes the whole process (NumPy, PyTorch, everything that calls malloc), only on glibc,
and only when called: chainrule never calls it on its own.

>>> from chainrule import nn
>>> isinstance(nn.tune_malloc(), bool)
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Raise glibc's mmap and trim thresholds (bytes); True if applied, False where there is
    no glibc (macOS, Windows, musl).

    >>> from chainrule import nn
    >>> nn.tune_malloc(mmap_threshold=32 << 20) in (True, False)
    True
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1 and ok
    return ok
