"""The opt-in process settings in chainrule.nn.perf."""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
import pytest

from chainrule import nn


def test_tune_malloc_reports_whether_it_applied() -> None:
    assert nn.tune_malloc() is sys.platform.startswith("linux")


def test_tune_blas_stops_numpys_blas_threads_spinning() -> None:
    with pytest.raises(ValueError, match=r"4\.\.30"):
        nn.tune_blas(40)
    a = np.ones((256, 256), np.float32)
    applied = nn.tune_blas(20)
    assert applied in (True, False)
    assert (a @ a)[0, 0] == 256.0  # the threads restart for the next product
    if applied:  # idle after a product, the process now burns (almost) no CPU time
        a @ a
        before = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(0.1)
        after = resource.getrusage(resource.RUSAGE_SELF)
        busy = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        assert busy < 0.03, f"{busy * 1e3:.1f} ms of CPU time during a 100 ms sleep"
