"""Backpropagation: run the graph's nodes in reverse topological order, without recursion.

Every node records when it was created, and a node's inputs always exist before it, so
creation order is a topological order. The walk keeps the nodes that have received a gradient
in a heap and always runs the most recently created one next: by then every consumer of that
node has run, so where a value fans out the branches' gradients have been summed (the
multivariate chain rule) before it passes them on. No recursion, no counting pass. A gradient
is dropped the moment its node has used it, and so is what the node cached for backward
(unless ``retain_graph``).

This is also the one place where a gradient of broadcast shape is summed back to the shape of
the input it belongs to.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule import backend, function

if TYPE_CHECKING:  # annotations only: Tensor sits above the engine
    from chainrule._tensor import Tensor

_TensorBase = function.TensorBase
_wrap = function.wrap


def unbroadcast(g: Any, shape: tuple[int, ...], op: str = "op") -> Any:
    """Sum ``g`` over the axes that broadcasting added or stretched, giving ``shape``.

    Only methods that arrays of every backend and Tensors share are used, so the same code
    reduces a NumPy gradient and, under ``create_graph``, records the reduction of a Tensor one.

    >>> unbroadcast(np.ones((2, 3)), (3,))
    array([2., 2., 2.])
    >>> unbroadcast(np.ones((2, 3)), (2, 1))
    array([[3.],
           [3.]])
    """
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead < 0 or any(s != 1 and s != gs for s, gs in zip(shape, gshape[lead:], strict=True)):
        raise ValueError(
            f"{op}.backward returned a gradient of shape {gshape} for an input of shape "
            f"{shape}; it must have the input's shape or a shape that broadcasts from it"
        )
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1
    )
    g = g.sum(axis=axes, keepdims=True) if axes else g
    return g.reshape(shape)


# A 0-d float result is held as a NumPy scalar: its "1" as the root gradient, by type.
_ONES: dict[type, Any] = {t: t(1) for t in (np.float16, np.float32, np.float64, np.longdouble)}


def _root_gradient(root: Tensor, gradient: Any, graph: bool = False) -> Any:
    if graph:  # create_graph: the walk carries Tensors; a given gradient may itself need grad
        if isinstance(gradient, _TensorBase):
            if gradient.shape != root.shape:
                raise ValueError(
                    f"backward(gradient=...): gradient has shape {gradient.shape} but the output "
                    f"has shape {root.shape}; they must match"
                )
            return gradient
        return _wrap(_root_gradient(root, gradient))
    if gradient is None:
        one = _ONES.get(type(root.data))
        if one is not None:
            return one  # immutable, so one object serves every backward
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() on a tensor of shape {root.shape} needs a `gradient` of that shape: "
                "the gradient can be left out only for a scalar output (e.g. a loss)"
            )
        if backend.is_foreign(root.data):  # the root's own backend (CuPy, ...)
            return backend.get_array_module(root.data).ones_like(root.data)
        if root.data.ndim == 0:
            return root.data.dtype.type(1)  # a NumPy scalar: the cheapest "1" of the right dtype
        return np.ones_like(root.data)
    g = gradient.data if isinstance(gradient, _TensorBase) else gradient
    if not hasattr(g, "shape"):
        g = np.asarray(g)
    elif backend.is_foreign(g):
        if g.shape != root.shape:
            raise ValueError(
                f"backward(gradient=...): gradient has shape {g.shape} but the output has "
                f"shape {root.shape}; they must match"
            )
        return g.astype(root.data.dtype)
    if g.shape != root.shape:
        raise ValueError(
            f"backward(gradient=...): gradient has shape {g.shape} but the output has shape "
            f"{root.shape}; they must match"
        )
    # no copy (PyTorch takes the given gradient as it is, too): the walk never writes into a
    # gradient, and a leaf handed this very array, or a view of it, gets a copy
    # (``_accumulate_leaves`` sees the root gradients' ids and any ``base``). Copying it cost
    # ~1.3 ms of W11's ~10 ms einsum step (a 4 MB array, first-touch page faults)
    return g.astype(root.data.dtype, copy=False)


def backward(
    root: Tensor,
    gradient: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> None:
    """Backpropagate from ``root`` into the leaves' ``.grad`` (see Tensor.backward)."""
    if not root.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of the computation "
            "had requires_grad=True (or it ran under no_grad())"
        )
    if retain_graph is None:
        retain_graph = create_graph
    run((root,), (_root_gradient(root, gradient, create_graph),), retain_graph, None, create_graph)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned; no ``.grad`` is touched.

    With ``create_graph=True`` the backward pass is itself recorded, so the gradients can be
    differentiated again (``retain_graph`` then defaults to True, as in PyTorch):

    >>> import chainrule as cr
    >>> x = cr.tensor(3.0, requires_grad=True)
    >>> (dx,) = cr.grad(x * x, x)
    >>> dx.item(), x.grad
    (6.0, None)
    >>> y = cr.tensor(2.0, requires_grad=True)
    >>> (dy,) = cr.grad(y**3, y, create_graph=True)     # 3 y^2 = 12, with its own graph
    >>> (d2y,) = cr.grad(dy, y)                          # 6 y = 12
    >>> dy.item(), d2y.item()
    (12.0, 12.0)
    """
    if retain_graph is None:
        retain_graph = create_graph
    outs = [outputs] if isinstance(outputs, _TensorBase) else list(outputs)
    ins = [inputs] if isinstance(inputs, _TensorBase) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, _TensorBase | np.ndarray):
        gos = [grad_outputs] * len(outs) if len(outs) == 1 else [None] * len(outs)
        if grad_outputs is not None and len(outs) != 1:
            raise ValueError("grad(): give one grad_output per output")
    else:
        gos = list(grad_outputs)
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError(f"grad(): an input of shape {t.shape} does not require grad")
    for o in outs:
        if not o.requires_grad:
            raise RuntimeError("grad(): an output does not require grad (no graph reaches it)")
    roots = [_root_gradient(o, g, create_graph) for o, g in zip(outs, gos, strict=True)]
    captured = run(outs, roots, retain_graph, ins, create_graph)
    result: list[Tensor | None] = []
    for t in ins:
        g = captured.get(t)
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad(): an input of shape {t.shape} is not reached from the outputs; "
                "pass allow_unused=True to get None for it"
            )
        if g is None or create_graph:
            result.append(g)
        else:
            result.append(_wrap(g.copy() if backend.is_foreign(g) else np.array(g)))
    return tuple(result)


_ndarray = np.ndarray
_NUMPY_TYPES = frozenset(t for t in np.sctypeDict.values() if issubclass(t, np.generic)) | {
    np.ndarray
}

_FREED = (
    "{op}.backward: trying to backward through the graph a second time, but what the nodes "
    "saved for backward was freed after the first one. Pass retain_graph=True to the first "
    "backward() if you need to backward twice."
)


def run(
    roots: Sequence[Tensor],
    root_grads: Sequence[Any],
    retain_graph: bool,
    capture: Sequence[Tensor] | None,
    create_graph: bool = False,
) -> dict[Tensor, Any]:
    """The backward pass. With ``capture``, return those tensors' gradients instead of
    accumulating into ``.grad``. With ``create_graph``, gradients are Tensors and every gate's
    backward runs on Tensors, recording the gradient's own graph.

    This is the only implementation of backpropagation: the observers of ``observe`` (the
    explanations, data-parallel training) see each step as it happens here."""
    grads: dict[Any, Any] = {}  # node -> gradient of its output, summed so far
    leaf_grads: dict[Tensor, Any] = {}
    captured: dict[Tensor, Any] = {}
    capture_nodes = {t._node: t for t in capture if t._node is not None} if capture else None
    anomaly = function.GradMode.anomaly
    last_inplace = function.GradMode.inplace_epoch
    # A max-heap of the nodes that have received a gradient, keyed by creation order. Inputs
    # are created before their consumers, so when a node comes off the heap every node that
    # could still send it a gradient has a larger key and has already run: its gradient is
    # complete (the fan-out branches summed) without counting consumers first.
    heap: list[tuple[int, Any]] = []
    for r, g in zip(roots, root_grads, strict=True):
        n = r._node
        if n is None:  # the root is itself a leaf
            leaf_grads[r] = leaf_grads[r] + g if r in leaf_grads else g
        elif n in grads:
            grads[n] = grads[n] + g
        else:
            grads[n] = g
            heappush(heap, (-n._seq, n))
    # ``nxt`` is a node found while nothing else is pending (a chain): it runs next without
    # the heap. A lone root starts as one.
    nxt = heap.pop()[1] if len(heap) == 1 else None
    # The loop below runs once per node of every backward pass: written for speed. The rare
    # per-node work (in-place checks, output hooks, capture, anomaly mode) hides behind one test.
    observers = _OBSERVERS
    rare = anomaly or capture_nodes is not None or create_graph or observers
    # the walk runs on its root's backend: NumPy's, unless the root gradient is another's
    foreign = type(root_grads[0]) not in _NUMPY_TYPES and backend.is_foreign(root_grads[0])
    if create_graph:
        prev_mode = function.GradMode.enabled
        function.GradMode.enabled = True  # the backward's own ops are recorded
    try:
        while True:
            if nxt is not None:
                n = nxt
                nxt = None
            elif heap:
                n = heappop(heap)[1]
            else:
                break
            dout = grads.pop(n)
            needs = n.needs_input_grad
            if needs is None:
                raise RuntimeError(_FREED.format(op=type(n).__name__))
            if rare or n._extra is not None or n._seq < last_inplace:
                if n._seq < last_inplace:  # something changed in place after n was recorded
                    n.check_versions()
                if n._extra is not None:
                    dout = _output_extras(n, dout)
                if capture_nodes is not None and n in capture_nodes:
                    captured[capture_nodes[n]] = dout
            dins = _graph_backward(n, dout) if create_graph else n.backward(dout)
            if type(dins) is not tuple:
                dins = tuple(dins) if type(dins) is list else (dins,)
            if len(dins) != len(needs):
                raise ValueError(
                    f"{type(n).__name__}.backward returned {len(dins)} gradients for "
                    f"{len(needs)} inputs; return one per input (None where none is needed)"
                )
            if rare:
                if anomaly:
                    from chainrule import anomaly as _anomaly

                    _anomaly.check_backward(n, dins)
                for o in observers:
                    o.step(n, dout, dins)
            if not retain_graph:  # n.free(), inlined
                n.needs_input_grad = None
                for name in n._cached:
                    setattr(n, name, None)
                if n._has_dict:
                    n.__dict__.clear()
            i = -1
            for p in n.inputs:  # indexing, not zip(): measurably faster for one or two inputs
                i += 1
                if not needs[i]:
                    continue
                g = dins[i]
                if g is None:
                    continue
                data = p.data
                tg = type(g)
                # A NumPy scalar of the input's own type has its shape and dtype: nothing to check
                # (another backend's arrays are all one type: always checked)
                if tg is not type(data) or tg is _ndarray or foreign:
                    try:
                        if g.shape != data.shape:
                            g = unbroadcast(g, data.shape, type(n).__name__)
                    except AttributeError:  # a Python number from a user's backward
                        g = np.asarray(g, dtype=data.dtype)
                        if create_graph:
                            g = _wrap(g)
                        g = unbroadcast(g, data.shape, type(n).__name__)
                    dt = data.dtype
                    if g.dtype is not dt and g.dtype != dt:
                        g = g.astype(dt)
                pn = p._node
                if pn is None:
                    leaf_grads[p] = leaf_grads[p] + g if p in leaf_grads else g
                elif pn in grads:
                    grads[pn] = grads[pn] + g
                else:
                    grads[pn] = g
                    if nxt is None:
                        nxt = pn
                    else:
                        heappush(heap, (-pn._seq, pn))
            if nxt is not None and heap:  # others are pending: the heap decides who runs next
                heappush(heap, (-nxt._seq, nxt))
                nxt = None
    finally:
        if create_graph:
            function.GradMode.enabled = prev_mode
    # the last node's gradients: dropped, so a leaf's view of one (take_along_axis's flat
    # gradient reshaped) is seen as private by _accumulate_leaves and not copied
    dout = dins = g = None
    if rare:
        for o in observers:
            o.end()
    if capture is not None:
        for t in capture:
            if t._node is None and t in leaf_grads:
                captured[t] = _leaf_hooks(t, leaf_grads[t])
        return captured
    _accumulate_leaves(leaf_grads, root_grads, create_graph, foreign)
    return captured


def _output_extras(n: Any, dout: Any) -> Any:
    """Run the output tensor's hooks and fill its .grad if retain_grad() asked for it."""
    extra = n._extra
    if "output_changed" in extra:
        raise RuntimeError(
            f"{type(n).__name__}.backward: its output was modified in place "
            f"({extra['output_changed']} through a tensor sharing its data, e.g. from detach()) "
            "after the forward pass, so the value saved for backward is stale"
        )
    graph = isinstance(dout, _TensorBase)  # under create_graph, hooks see the Tensor itself
    for hook in list(extra.get("hooks", ())):
        out = hook(dout if graph else _wrap(np.asarray(dout)))
        if out is not None:
            dout = _hook_result(out, graph)
    ref = extra.get("retain")
    t = ref() if ref is not None else None
    if t is not None:
        if graph:
            t.grad = dout if t.grad is None else t.grad + dout
        else:
            t.grad = _wrap(np.array(dout) if t.grad is None else np.asarray(t.grad.data + dout))
    return dout


def _hook_result(out: Any, graph: bool) -> Any:
    """What a hook returned, as the walk carries it: a Tensor under create_graph, else an array."""
    if graph:
        return out if isinstance(out, _TensorBase) else _wrap(np.asarray(out))
    return out.data if isinstance(out, _TensorBase) else np.asarray(out)


def _leaf_hooks(leaf: Tensor, g: Any) -> Any:
    """Run a leaf's hooks on its total gradient; a returned value replaces it."""
    meta = leaf._meta
    graph = isinstance(g, _TensorBase)
    for hook in list(meta.get("hooks", ())) if meta is not None else ():
        out = hook(g if graph else _wrap(np.asarray(g)))
        if out is not None:
            g = _hook_result(out, graph)
    return g


def _shared_view(g: Any, foreign: bool) -> bool:
    """Whether a view g may share its memory with anything else: a NumPy view is private when
    it is writeable and nothing but g holds its base (a fresh gradient reshaped on its way to
    the leaf, as take_along_axis's); a base that anything else holds (another leaf's gradient,
    a gate's cache, the caller's array) counts as shared, as does every view of another array
    module."""
    if foreign or type(g) is not np.ndarray or not g.flags.writeable:
        return True
    return sys.getrefcount(g.base) > 2  # g's own reference and the call's argument


def _accumulate_leaves(
    leaf_grads: dict[Tensor, Any],
    root_grads: Sequence[Any],
    graph: bool = False,
    foreign: bool = False,
) -> None:
    """Add each leaf's gradient into ``.grad`` (PyTorch semantics: accumulate across calls).

    ``.grad`` arrays are never changed in place afterwards, so a gradient that several leaves
    received as one array (the add gate hands its upstream gradient to both inputs) must not
    be shared between them: views and repeats are copied."""
    if graph:  # create_graph: .grad is a Tensor carrying the gradient's graph
        for leaf, g in leaf_grads.items():
            if leaf._meta is not None:
                g = _leaf_hooks(leaf, g)
            leaf.grad = g if leaf.grad is None else leaf.grad + g
        return
    seen: set[int] | None = None  # ids of the arrays already handed to a leaf
    new = object.__new__
    tensor_type = _TensorBase.concrete
    for leaf, g in leaf_grads.items():
        if leaf._meta is not None:
            g = _leaf_hooks(leaf, g)
        old = leaf.grad
        if old is not None:
            g = old.data + g
        elif type(g) is np.ndarray or foreign:
            if seen is None:
                seen = set(map(id, root_grads))
            if id(g) in seen or (getattr(g, "base", None) is not None and _shared_view(g, foreign)):
                g = g.copy()
            seen.add(id(g))
        # else a NumPy scalar (a 0-d result): immutable, so it can be shared as it is
        # Tensor._wrap(g), inlined: once per leaf per backward, and a call costs ~2% of W1
        t = new(tensor_type)
        t.data = g
        t.grad = None
        t.requires_grad = False
        t._node = None
        t._version = 0
        t._meta = None
        leaf.grad = t


def _graph_backward(n: Any, dout: Any) -> tuple[Any, ...]:
    """Run ``n.backward`` on Tensors, recording the gradient's graph (``create_graph=True``).

    A gate's backward is written once against the namespace of what it is handed. Here it is
    handed Tensors: the upstream gradient, and in place of every cached value that is one of
    the gate's input arrays (or its output, cached as ``out``) the Tensor it belongs to. Other
    cached values stay as they are: constants of the gradient's graph (masks, indices)."""
    cls = type(n)
    if not cls.differentiable_backward:
        raise RuntimeError(
            f"{cls.__name__}.backward is not differentiable, so create_graph=True cannot record "
            "the gradient's graph through it. Write its backward with the namespace it is handed "
            "(xp = chainrule.backend.get_array_module(dout); xp.exp, operators, .sum(...)), "
            "cache its inputs as given and its output as self.out, then set "
            f"{cls.__name__}.differentiable_backward = True (see the Function docstring)"
        )
    tensor_type = _TensorBase
    by_id = {id(p.data): p for p in n.inputs if isinstance(p, tensor_type)}
    swapped: dict[str, Any] = {}
    names = n._cached + (tuple(n.__dict__) if n._has_dict else ())
    for name in names:
        v = getattr(n, name, None)
        if v is None:
            continue
        if type(v) is tuple and any(id(e) in by_id for e in v):  # a gate of many inputs
            swapped[name] = v
            setattr(n, name, tuple(by_id.get(id(e), e) for e in v))
            continue
        t = by_id.get(id(v))
        if t is None and name == "out" and hasattr(v, "shape"):
            t = _wrap(v, True)  # the node's own output: gradients flow back into n
            t._node = n
        if t is not None:
            swapped[name] = v
            setattr(n, name, t)
    try:
        dins = n.backward(dout)
    finally:
        for name, v in swapped.items():
            setattr(n, name, v)
    if type(dins) is not tuple:
        dins = tuple(dins) if type(dins) is list else (dins,)
    return tuple(g if g is None or isinstance(g, tensor_type) else _wrap(g) for g in dins)


class Observer:
    """Sees the backward walk step by step (subclass it and pass it to ``observe``).

    ``step(node, dout, dins)`` runs after each node's backward: ``dout`` the upstream gradient
    of the node's output (after its hooks), ``dins`` the downstream gradients, one per entry of
    ``node.inputs`` (None where none is needed), before broadcasts are summed back.
    ``end()`` runs when the walk is over, before the leaves' ``.grad`` are written.
    """

    def step(self, node: Any, dout: Any, dins: tuple[Any, ...]) -> None:
        """One node's backward has run."""

    def end(self) -> None:
        """The walk is over."""


_OBSERVERS: list[Observer] = []


class observe:  # noqa: N801 - used as a context manager, like no_grad
    """Watch every backward walk inside a ``with`` block (explanations, data parallelism).

    >>> import chainrule as cr
    >>> class Names(Observer):
    ...     def __init__(self):
    ...         self.names = []
    ...     def step(self, node, dout, dins):
    ...         self.names.append(type(node).__name__)
    >>> x = cr.tensor(2.0, requires_grad=True)
    >>> seen = Names()
    >>> with observe(seen):
    ...     ((x * 3) + 1).backward()
    >>> seen.names
    ['Add', 'Mul']
    """

    def __init__(self, observer: Observer) -> None:
        self.observer = observer

    def __enter__(self) -> Observer:
        _OBSERVERS.append(self.observer)
        return self.observer

    def __exit__(self, *exc: object) -> None:
        _OBSERVERS.remove(self.observer)
