"""The array layer: which namespace a value belongs to, and the strict stand-in backend (the
op table runs on it in tests/ops/test_op_table_strict.py)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend
from strict_backend import ImplicitConversionError, StrictArray


def test_the_stand_in_refuses_implicit_conversion():
    a = StrictArray(np.ones(3))
    with pytest.raises(ImplicitConversionError):
        np.asarray(a)
    with pytest.raises(TypeError):
        np.exp(a)
    assert backend.get_array_module(a) is a.__array_namespace__()


def test_get_array_module():
    assert backend.get_array_module(np.ones(2)) is np
    assert backend.get_array_module(np.float32(1.0), 2.0) is np
    from chainrule.ops import namespace

    assert backend.get_array_module(cr.tensor([1.0])) is namespace


def test_a_tensor_keeps_a_foreign_array():
    a = StrictArray(np.arange(3.0))
    t = cr.tensor(a, requires_grad=True)
    assert t.data is a
    assert t.tolist() == [0.0, 1.0, 2.0]  # printing and tolist copy explicitly
