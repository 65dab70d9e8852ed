"""The opt-in process settings in chainrule.nn.perf."""

from __future__ import annotations

import os
import resource
import sys
import threading
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


def _cpu_burnt_while_idle() -> float:
    """CPU seconds this process spends during a 0.1 s sleep right after a matrix product."""
    a = np.ones((256, 256), np.float32)
    a @ a
    before = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(0.1)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def test_tuned_blas_applies_for_the_block_then_restores_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chainrule import _blas
    from chainrule.nn import perf

    with pytest.raises(ValueError, match=r"4\.\.30"), nn.tuned_blas(3):
        pass
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    expected = perf._only_thread() and _blas.numpy_openblas() is not None
    with nn.tuned_blas(20) as applied:
        assert applied is expected
        assert os.environ.get("OPENBLAS_THREAD_TIMEOUT") == ("20" if applied else None)
        if applied:
            assert _cpu_burnt_while_idle() < 0.03
    assert "OPENBLAS_THREAD_TIMEOUT" not in os.environ  # the environment as it was
    lib = _blas.numpy_openblas()
    if applied:
        assert lib is not None and lib.openblas_thread_timeout() == 28  # OpenBLAS's default


def test_tuned_blas_stays_out_where_the_environment_chose_or_threads_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "25")
    with nn.tuned_blas() as applied:
        assert not applied and os.environ["OPENBLAS_THREAD_TIMEOUT"] == "25"
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with nn.tuned_blas() as applied:
            assert not applied and "OPENBLAS_THREAD_TIMEOUT" not in os.environ
    finally:
        stop.set()
        other.join()


def test_chainrules_own_split_worker_does_not_keep_tuned_blas_out() -> None:
    """The two-way split's worker (started by a large conv, pool, scan or sort) runs only
    inside its caller's call: it must not count as another thread, or every fit after the
    first large op would keep OpenBLAS's long spin (W8's LeNet epoch 2.1x -> 2.6x PyTorch)."""
    from chainrule.nn import perf
    from chainrule.ops import _threads

    others = [
        t
        for t in threading.enumerate()
        if t is not threading.current_thread() and not t.name.startswith("chainrule-")
    ]
    _threads.shared(lambda items: list(items), iter(range(4)))  # the worker now exists
    assert any(t.name.startswith("chainrule-half") for t in threading.enumerate())
    if not others:  # no thread but chainrule's in this test process
        assert perf._only_thread()
