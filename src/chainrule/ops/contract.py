"""Contractions: einsum (any subscripts NumPy accepts), and tensordot, inner, outer and dot
written as einsums.

einsum's local gradient is another einsum: the gradient of operand i contracts dout with every
other operand onto operand i's subscripts. Letters that appear only in operand i are broadcast
back, a letter repeated within operand i (a diagonal, ``ii``) gets the gradient on that diagonal
and exact zeros elsewhere, and size-1 broadcast axes are summed back. Two-operand einsums with
no repeated letters run as one batched matmul (BLAS), the optimized path; others use
``numpy.einsum(optimize=True)``.
"""

from __future__ import annotations

import functools
import string
from typing import Any

import numpy as np

from chainrule import _blas_batch, backend
from chainrule.function import Function, TensorBase
from chainrule.ops import _args

_xp = backend.get_array_module
_LETTERS = string.ascii_letters


def parse(subscripts: Any, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Explicit subscripts: one letter string per operand (ellipses spelled out) and the output.

    >>> parse("...i,i", [(2, 3), (3,)])
    (['ai', 'i'], 'a')
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string, got {type(subscripts).__name__}")
    spec = subscripts.replace(" ", "")
    lhs, arrow, out = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(
            f"einsum: subscripts {subscripts!r} name {len(terms)} operands, got {len(shapes)}"
        )
    used = set(spec) - set(".,->")
    bad = sorted(c for c in used if c not in _LETTERS)
    if bad:
        raise ValueError(f"einsum: subscripts {subscripts!r} may only use letters, got {bad}")
    free = [c for c in _LETTERS if c not in used]
    n_ellipsis = 0
    explicit = []
    for term, shape in zip(terms, shapes, strict=True):
        letters = term.replace("...", "")
        if "." in letters or term.count("...") > 1:
            raise ValueError(f"einsum: malformed ellipsis in {term!r} of {subscripts!r}")
        extra = len(shape) - len(letters)
        if extra < 0 or (extra > 0 and "..." not in term):
            raise ValueError(
                f"einsum: operand of shape {shape} does not match its subscripts {term!r} "
                f"in {subscripts!r}"
            )
        n_ellipsis = max(n_ellipsis, extra)
        explicit.append((term, extra))
    ell = "".join(free[:n_ellipsis])
    inputs = [
        t.replace("...", ell[n_ellipsis - extra :]) if "..." in t else t for t, extra in explicit
    ]
    if arrow:
        if "..." in out:
            out = out.replace("...", ell)
        for c in out:
            if c not in "".join(inputs):
                raise ValueError(f"einsum: output letter {c!r} of {subscripts!r} is in no operand")
        if len(set(out)) != len(out):
            raise ValueError(f"einsum: output {out!r} of {subscripts!r} repeats a letter")
    else:
        counts = "".join(inputs)
        out = ell + "".join(sorted(c for c in set(counts) - set(ell) if counts.count(c) == 1))
    sizes: dict[str, int] = {}
    for term, shape in zip(inputs, shapes, strict=True):
        for c, n in zip(term, shape, strict=True):
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise ValueError(
                    f"einsum: letter {c!r} of {subscripts!r} has sizes {sizes[c]} and {n}"
                )
            sizes[c] = max(sizes.get(c, 1), n)
    return inputs, out


def _matmul_path(xp: Any, a_s: str, b_s: str, out: str, a: Any, b: Any) -> Any:
    """a, b contracted as one batched matmul: (batch, m, k) @ (batch, k, n), then permuted."""
    # letters only in one operand and not in the output are summed away first
    for s, name in ((a_s, "a"), (b_s, "b")):
        other = b_s if name == "a" else a_s
        lone = tuple(i for i, c in enumerate(s) if c not in other and c not in out)
        if lone:
            if name == "a":
                a, a_s = a.sum(axis=lone), "".join(c for c in a_s if c in other or c in out)
            else:
                b, b_s = b.sum(axis=lone), "".join(c for c in b_s if c in other or c in out)
    batch = [c for c in out if c in a_s and c in b_s]
    m = [c for c in out if c in a_s and c not in b_s]
    n = [c for c in out if c in b_s and c not in a_s]
    k = [c for c in a_s if c in b_s and c not in out]
    size = {c: d for s, x in ((a_s, a), (b_s, b)) for c, d in zip(s, x.shape, strict=True)}
    if len(m) == len(k) == len(n) == 1:
        # one letter each: matmul takes the transposed views as they are (BLAS reads either
        # layout) and broadcasts the batch axes itself, so nothing is copied
        if list(out) == batch + n + m:  # out^T = b^T a^T: the product lands in out's order
            a, a_s, b, b_s, m, n = b, b_s, a, a_s, n, m
        order = batch + m + n
        r = _matmul(
            xp,
            _permuted(a, [a_s.index(c) for c in batch + m + k]),
            _permuted(b, [b_s.index(c) for c in batch + k + n]),
        )
        return _permuted(r, [order.index(c) for c in out])
    # broadcast size-1 axes of batch letters so both reshape to the same batch
    a = a.transpose([a_s.index(c) for c in batch + m + k])
    b = b.transpose([b_s.index(c) for c in batch + k + n])
    bsizes = [max(size[c], a.shape[i], b.shape[i]) for i, c in enumerate(batch)]
    nb = int(np.prod(bsizes, dtype=np.int64))
    msz = int(np.prod([a.shape[len(batch) + i] for i in range(len(m))], dtype=np.int64))
    ksz = int(np.prod([a.shape[len(batch) + len(m) + i] for i in range(len(k))], dtype=np.int64))
    nsz = int(np.prod([b.shape[len(batch) + len(k) + i] for i in range(len(n))], dtype=np.int64))
    a = xp.broadcast_to(a, (*bsizes, *a.shape[len(batch) :])).reshape((nb, msz, ksz))
    b = xp.broadcast_to(b, (*bsizes, *b.shape[len(batch) :])).reshape((nb, ksz, nsz))
    r = _matmul(xp, a, b)  # (nb, m, n)
    dims = bsizes + [size[c] for c in m] + [size[c] for c in n]
    r = r.reshape(dims)
    order = batch + m + n
    return _permuted(r, [order.index(c) for c in out])


def _matmul(xp: Any, a: Any, b: Any) -> Any:
    """a @ b; stacks of NumPy matrices as one batched BLAS call where it applies
    (``_blas_batch``: ~1.7x np.matmul's one call per matrix on W11's einsums)."""
    if xp is np and a.ndim > 2:
        r = _blas_batch.matmul(a, b)
        if r is not None:
            return r
    return xp.matmul(a, b)


def _permuted(x: Any, perm: list[int]) -> Any:
    """x.transpose(perm), or x itself when perm keeps the order: a result that is a view
    (even an identity one) has a ``base``, and the engine copies such a gradient before it
    becomes a leaf's ``.grad`` (4 MB, ~1.5 ms for W11's einsum operands)."""
    return x if perm == sorted(perm) else x.transpose(perm)


def contract(xp: Any, inputs: list[str], out: str, operands: list[Any]) -> Any:
    """The einsum of explicit subscripts, on the fast path where one applies."""
    if len(operands) == 2 and all(len(set(s)) == len(s) for s in inputs):
        return _matmul_path(xp, inputs[0], inputs[1], out, operands[0], operands[1])
    spec = ",".join(inputs) + "->" + out
    if isinstance(operands[0], TensorBase) or any(isinstance(o, TensorBase) for o in operands):
        return einsum(spec, *operands)
    if xp is np and len(operands) > 2:
        return np.einsum(spec, *operands, optimize=_path(spec, tuple(o.shape for o in operands)))
    return xp.einsum(spec, *operands, optimize=True)


@functools.lru_cache(maxsize=512)
def _path(spec: str, shapes: tuple[tuple[int, ...], ...]) -> list[Any]:
    """numpy.einsum's greedy contraction order (``optimize=True``) for these subscripts and
    shapes, searched once: a training loop repeats the same einsums (the search is ~50 us a
    call for three operands, comparable to the contraction of small ones)."""
    stand_ins = [np.broadcast_to(np.zeros((), np.float64), s) for s in shapes]  # no memory
    return list(np.einsum_path(spec, *stand_ins, optimize="greedy")[0])


@_args.register(
    function="einsum",
    method=None,
    ufunc=None,
    family="linalg",
    label="einsum",
    local="contract dout with the others",
    rebuildable=False,
)
class Einsum(Function):
    """out = einsum(subscripts, *xs);  dx_i = einsum(dout and the other xs -> x_i's subscripts)"""

    __slots__ = ("out_s", "shapes", "subs", "xs")
    differentiable_backward = True

    def forward(self, *xs: Any, subscripts: str = "") -> Any:
        self.shapes = [tuple(x.shape) for x in xs]
        self.subs, self.out_s = parse(subscripts, self.shapes)
        self.xs = xs
        return contract(_xp(*xs), self.subs, self.out_s, list(xs))

    def backward(self, dout: Any) -> Any:
        xp = backend.get_array_module(dout)
        grads: list[Any] = []
        for i, (s_i, shape) in enumerate(zip(self.subs, self.shapes, strict=True)):
            if not self.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [
                (s, x) for j, (s, x) in enumerate(zip(self.subs, self.xs, strict=True)) if j != i
            ]
            have = set(self.out_s).union(*[set(s) for s, _ in others])
            unique = "".join(dict.fromkeys(c for c in s_i if c in have))
            g = contract(
                xp, [self.out_s, *[s for s, _ in others]], unique, [dout, *[x for _, x in others]]
            )
            grads.append(_place(xp, g, unique, s_i, shape))
        return tuple(grads)


def _place(xp: Any, g: Any, unique: str, s_i: str, shape: tuple[int, ...]) -> Any:
    """g over the letters ``unique`` laid out as operand i: broadcast over its lone letters,
    on the diagonal of repeated letters, summed over its size-1 broadcast axes."""
    first = {c: s_i.index(c) for c in s_i}
    # g's axes to the first position of each letter, size 1 elsewhere
    order = sorted(unique, key=lambda c: first[c])
    g = _permuted(g, [unique.index(c) for c in order])
    full = [1] * len(s_i)
    for c, n in zip(order, g.shape, strict=True):
        full[first[c]] = n
    target = tuple(max(full[first[c]], shape[p]) for p, c in enumerate(s_i))
    if tuple(g.shape) != target:  # else already laid out as operand i: g itself, no view
        g = xp.broadcast_to(g.reshape(full), target)
    if len(set(s_i)) != len(s_i):  # a diagonal: the gradient only where repeated indices agree
        mask = np.ones(target, dtype=bool)
        grids = np.indices(target, sparse=True)
        for p, c in enumerate(s_i):
            if first[c] != p:
                mask = mask & (grids[p] == grids[first[c]])
        g = xp.where(mask, g, 0.0 * g)
    summed = tuple(p for p, n in enumerate(shape) if n == 1 and target[p] != 1)
    return g.sum(axis=summed, keepdims=True) if summed else g


ALL = (Einsum,)


def einsum(subscripts: str, *operands: Any) -> Any:
    """Einstein summation, as numpy.einsum: implicit or explicit output, ellipses, broadcasting,
    repeated letters (diagonals, traces); differentiable in every operand.

    >>> import chainrule as cr
    >>> a, b = cr.tensor([[1.0, 2.0], [3.0, 4.0]]), cr.tensor([[1.0], [1.0]])
    >>> cr.einsum("ij,jk->ik", a, b), cr.einsum("ii", a)
    (tensor([[3.],
            [7.]]), tensor(5.))
    """
    if not operands:
        raise ValueError("einsum: needs at least one operand")
    ts = [_args.tensor(o) for o in operands]
    if len(ts) == 2:
        ts = list(_args.pair(*ts))
    return Einsum.apply(*ts, subscripts=subscripts)


def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    """Sum products over the last ``axes`` axes of a and the first of b (or the given pairs),
    as numpy.tensordot.

    >>> import chainrule as cr
    >>> cr.tensordot(cr.ones(2, 3), cr.ones(3, 4), axes=1).shape
    (2, 4)
    """
    a, b = _args.pair(a, b)
    if isinstance(axes, int):
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ValueError(
                f"tensordot: axes={axes} needs 0 <= axes <= min(ndims) = {min(a.ndim, b.ndim)}"
            )
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        try:
            ax_a, ax_b = ([x] if isinstance(x, int) else list(x) for x in axes)
        except (TypeError, ValueError):
            raise ValueError(
                f"tensordot: axes must be an int or a pair of axis lists, got {axes!r}"
            ) from None
        if len(ax_a) != len(ax_b):
            raise ValueError(f"tensordot: axes {axes!r} pair {len(ax_a)} axes with {len(ax_b)}")
        ax_a = [_args.axis("tensordot", x, a.ndim) for x in ax_a]
        ax_b = [_args.axis("tensordot", x, b.ndim) for x in ax_b]
    for i, j in zip(ax_a, ax_b, strict=True):
        if a.shape[i] != b.shape[j]:
            raise ValueError(
                f"tensordot: axis {i} of a (size {a.shape[i]}) and axis {j} of b "
                f"(size {b.shape[j]}) differ"
            )
    la = _LETTERS[: a.ndim]
    lb = list(_LETTERS[a.ndim : a.ndim + b.ndim])
    for i, j in zip(ax_a, ax_b, strict=True):
        lb[j] = la[i]
    out = "".join(c for p, c in enumerate(la) if p not in ax_a) + "".join(
        c for p, c in enumerate(lb) if p not in ax_b
    )
    return einsum(f"{la},{''.join(lb)}->{out}", a, b)


def inner(a: Any, b: Any) -> Any:
    """Sum of products over the last axes, as numpy.inner (a scalar operand multiplies).

    >>> import chainrule as cr
    >>> cr.inner(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]))
    tensor(11.)
    """
    a, b = _args.pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"inner: shapes {a.shape} and {b.shape} are not aligned: the last axes have sizes "
            f"{a.shape[-1]} and {b.shape[-1]}; they must be equal"
        )
    return tensordot(a, b, axes=([-1], [-1]))


def outer(a: Any, b: Any) -> Any:
    """Outer product of the flattened inputs, as numpy.outer.

    >>> import chainrule as cr
    >>> cr.outer(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 10.0]))
    tensor([[ 1., 10.],
            [ 2., 20.]])
    """
    a, b = _args.pair(a, b)
    return einsum("i,j->ij", a.reshape(-1), b.reshape(-1))


def dot(a: Any, b: Any) -> Any:
    """numpy.dot on any ranks: multiply for a scalar, inner product of vectors, matmul of
    matrices, and otherwise a sum over a's last axis and b's second-to-last.

    >>> import chainrule as cr
    >>> cr.dot(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]))
    tensor(11.)
    >>> cr.dot(cr.ones(2, 3, 4), cr.ones(5, 4, 6)).shape
    (2, 3, 5, 6)
    """
    a, b = _args.pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    bx = 0 if b.ndim == 1 else b.ndim - 2  # the axis of b that meets a's last
    if a.shape[-1] != b.shape[bx]:
        raise ValueError(
            f"dot: shapes {a.shape} and {b.shape} are not aligned: a's last axis has size "
            f"{a.shape[-1]}, b's axis {bx} has size {b.shape[bx]}; they must be equal"
        )
    return tensordot(a, b, axes=([-1], [bx]))
