"""Test helper: the gradients of a two-operand einsum, written as NumPy einsums of their own."""

from __future__ import annotations

import numpy as np


def einsum_grads(spec: str, dout: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple:
    """d/da and d/db of sum(dout * einsum(spec, a, b)), for a spec "A,B->R" with no repeated
    letters within an operand: each gradient contracts dout with the other operand."""
    lhs, res = spec.split("->")
    a_s, b_s = lhs.split(",")
    return np.einsum(f"{res},{b_s}->{a_s}", dout, b), np.einsum(f"{res},{a_s}->{b_s}", dout, a)
