"""The Jacobian lens: the matrix a vectorized gate's local gradient really is, and the
vector-Jacobian product that backprop computes instead of building it.

For a gate ``out = g(x, ...)`` the lens shows ``d out / d x`` as a matrix (``chainrule.jacobian``
rebuilds the gate on a copy of ``x``; gates with options or a user's gates use one one-hot
upstream per row through the recorded gate's ``backward``), names its structure (diagonal for
an elementwise gate, block-diagonal for a matmul's rows, a single row for a reduction), then
multiplies the upstream gradient into it and checks the product against what ``backward``
gave.

>>> import chainrule as cr
>>> values = {"W": [[0.1, 0.5], [-0.3, 0.8]], "x": [0.2, 0.4]}
>>> e = cr.viz.explain_expression("sum((W@x)**2)", values)
>>> lens_r = e.jacobian("r")
>>> lens_r.parts[0].structure.split(":")[0], lens_r.parts[0].agree
('diagonal', True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule import engine, function, functional
from chainrule.ops import registry

MAX_ENTRIES = 4096  # a bigger Jacobian is described, not printed
PRINT_ENTRIES = 144  # 12 x 12
# gates that take no options, so they can be rebuilt from their inputs alone
REBUILDABLE = frozenset(f.gate for f in registry.ALL.values() if f.rebuildable)


@dataclass(frozen=True)
class JacobianPart:
    """The Jacobian of a gate's output with respect to one of its inputs."""

    input: Any  # the input's Node
    matrix: np.ndarray | None  # (out.size, in.size); None when too large
    structure: str
    method: str
    vjp: np.ndarray | None  # upstream @ J, in the input's shape
    downstream: np.ndarray | None  # what backward gave
    agree: bool | None


@dataclass(frozen=True)
class JacobianLens:
    """The lens on one gate: one ``JacobianPart`` per input that gets a gradient."""

    explanation: Any
    node: Any
    parts: tuple[JacobianPart, ...]

    def __str__(self) -> str:
        e, n, f = self.explanation, self.node, self.explanation.format
        o = e.output.name
        lines = [f"Jacobian lens on {n.name} = {n.formula} ({n.label}), shape {n.shape}"]
        if not self.parts:
            lines.append("  no input of this gate receives a gradient")
        for p in self.parts:
            m = p.input
            lines.append(f"  d{n.name}/d{m.name}: {n.value.size} x {m.value.size} ({p.method})")
            if p.matrix is not None and p.matrix.size <= PRINT_ENTRIES:
                body = np.array2string(
                    p.matrix, precision=e.precision, suppress_small=True, max_line_width=100
                )
                lines += ["    " + line for line in body.splitlines()]
            elif p.matrix is not None:
                lines.append(f"    (too many entries to print: {p.matrix.shape})")
            lines.append(f"  structure: {p.structure}")
            if p.vjp is not None and n.grad is not None:
                lines.append(
                    "  backprop never builds this matrix: it computes the vector-Jacobian product"
                )
                lines.append(f"    upstream d{o}/d{n.name} = {f(n.grad)}")
                lines.append(f"    upstream @ J         = {f(p.vjp)}")
                lines.append(f"    backward gave        = {f(p.downstream)}")
                lines.append("    they agree" if p.agree else "    THEY DIFFER")
        return "\n".join(lines)


def lens(explanation: Any, node: Any) -> JacobianLens:
    """Build the lens on ``node`` (a gate of ``explanation``)."""
    if node.is_input:
        raise ValueError(f"{node.name} is an input, not a gate: it has no Jacobian")
    fn = explanation._fns[node.index]
    if fn.needs_input_grad is None:
        raise RuntimeError(
            "the Jacobian lens needs the graph's saved values, which backward() freed; "
            "explain before backward(), or use backward(retain_graph=True)"
        )
    parts = []
    tensors = [a for a in fn.inputs if isinstance(a, function.TensorBase)]
    slots = [k for k, a in enumerate(fn.inputs) if isinstance(a, function.TensorBase)]
    for slot, t, j in zip(slots, tensors, node.inputs, strict=True):
        if not fn.needs_input_grad[slot]:
            continue
        parts.append(_part(explanation, node, fn, slot, t, explanation.nodes[j]))
    return JacobianLens(explanation, node, tuple(parts))


def _part(explanation: Any, node: Any, fn: Any, slot: int, t: Any, inode: Any) -> JacobianPart:
    m, n = node.value.size, t.data.size
    edge = next((e for e in explanation.edges if e.target == node.index and e.slot == slot), None)
    downstream = None if edge is None else edge.grad
    if m * n > MAX_ENTRIES:
        return JacobianPart(
            inode,
            None,
            f"{m} x {n}: too large to build here; backprop never builds it",
            "not built",
            None,
            downstream,
            None,
        )
    op = type(fn).__name__
    with np.errstate(all="ignore"):
        if op in REBUILDABLE:
            args = list(fn.inputs)

            def g(x: Any) -> Any:
                args[slot] = x
                return type(fn).apply(*args)

            jac = functional.jacobian(g, np.array(t.data, dtype=np.float64))
            method = "chainrule.jacobian on the gate rebuilt"
        else:
            jac = np.zeros((m, n))
            for k in range(m):
                onehot = np.zeros(m, dtype=node.value.dtype)
                onehot[k] = 1
                dins = fn.backward(onehot.reshape(node.shape))
                if type(dins) is not tuple:
                    dins = tuple(dins) if type(dins) is list else (dins,)
                jac[k] = engine.unbroadcast(np.asarray(dins[slot]), t.data.shape, op).reshape(-1)
            method = "one one-hot upstream per row through the gate's backward"
    matrix = np.asarray(jac, dtype=np.float64).reshape(m, n)
    structure = _structure(matrix, node.shape, t.data.shape, op)
    vjp = agree = None
    if node.grad is not None and downstream is not None:
        vjp = (np.asarray(node.grad, dtype=np.float64).reshape(-1) @ matrix).reshape(t.shape)
        tol = 1e-9 if t.data.dtype == np.float64 else 1e-4
        agree = bool(np.allclose(vjp, downstream, rtol=tol * 100, atol=tol, equal_nan=True))
    return JacobianPart(inode, matrix, structure, method, vjp, downstream, agree)


def _structure(
    j: np.ndarray, out_shape: tuple[int, ...], in_shape: tuple[int, ...], op: str
) -> str:
    """Name the Jacobian's structure (diagonal, block-diagonal, a row, sparse, dense)."""
    m, n = j.shape
    nonzero = int(np.count_nonzero(j))
    if op in _WINDOW_GATES and m > 1 and nonzero:
        return _window_structure(j, op, nonzero)
    if m == 1 and n == 1:
        return "1 x 1: for scalars the Jacobian is just the local gradient"
    if m == n and nonzero == np.count_nonzero(np.diag(j)):
        return (
            "diagonal: an elementwise gate, each output element depends only on its own "
            "input element, so backprop multiplies elementwise"
        )
    if m == 1:
        if np.all(j == 1):
            return "a single row of ones: the sum distributes the upstream to every element"
        return "a single row (the output is a scalar): the VJP scales it by the upstream"
    if out_shape and in_shape and out_shape[0] == in_shape[0] and out_shape[0] > 1:
        b = out_shape[0]
        blocks = j.reshape(b, m // b, b, n // b)
        off = blocks.copy()
        for i in range(b):
            off[i, :, i, :] = 0
        if not off.any():
            same = all(np.array_equal(blocks[0, :, 0, :], blocks[i, :, i, :]) for i in range(b))
            what = f"{b} blocks of shape ({m // b}, {n // b})"
            why = " (the same matrix in every block)" if same else ""
            extra = (
                ": row i of the output depends only on row i of this input"
                if op == "MatMul"
                else ""
            )
            return f"block-diagonal, {what}{why}{extra}"
    if (
        op == "MatMul"
        and len(out_shape) == 2
        and len(in_shape) == 2
        and out_shape[1] == in_shape[1]
        and not _offdiag_blocks(j, out_shape, in_shape)
    ):
        return (
            f"block structure: {out_shape[0]} x {in_shape[0]} blocks, each a multiple of the "
            f"{out_shape[1]} x {out_shape[1]} identity (a Kronecker product): column j of the "
            "output depends only on column j of this input"
        )
    if nonzero < j.size:
        return f"sparse: {nonzero} of {j.size} entries are nonzero"
    if op == "MatMul":
        return "dense: every output element depends on every element of this input"
    return "dense"


def _offdiag_blocks(j: np.ndarray, out_shape: tuple[int, ...], in_shape: tuple[int, ...]) -> bool:
    """True when some (output row, input row) block of ``j`` has an off-diagonal entry."""
    (a, c), (b, _) = out_shape, in_shape
    blocks = j.reshape(a, c, b, c)
    mask = ~np.eye(c, dtype=bool)
    return bool(np.any(blocks.transpose(0, 2, 1, 3)[:, :, mask]))  # (a, b, c, c) -> (a, b, k)


_WINDOW_GATES = ("Conv2d", "MaxPool2d", "AvgPool2d")


def _window_structure(j: np.ndarray, op: str, nonzero: int) -> str:
    """A conv or pool: sparse and banded (each output element sees one window), and for a
    conv the same few weights repeated in every row (weight sharing)."""
    per_row = int(np.count_nonzero(j, axis=1).max())
    distinct = int(np.unique(j[j != 0]).size)
    line = (
        f"sparse, banded: {nonzero} of {j.size} entries are nonzero, at most {per_row} per row "
        "(each output element sees one window of the input)"
    )
    if op == "Conv2d":
        line += (
            f"; weight sharing: only {distinct} distinct nonzero values, the same ones "
            "repeated in every row, so backprop runs a convolution instead of building this"
        )
    elif op == "MaxPool2d":
        line += "; one 1 per row: max routes the upstream to the window's winner"
    return line
