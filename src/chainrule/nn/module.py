"""Module, Parameter and Sequential: the containers every layer and network is built from.

A ``Module`` registers what is assigned to its attributes: a ``Parameter`` becomes a trainable
weight, another ``Module`` becomes a child, and ``register_buffer`` keeps state that is saved but
not trained (BatchNorm's running statistics). Names are dotted paths (``layers.0.weight``), the
same in ``named_parameters()``, ``state_dict()`` and the files ``chainrule.save`` writes.

>>> import chainrule as cr
>>> from chainrule import nn
>>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
>>> [name for name, _ in net.named_parameters()]
['0.weight', '0.bias', '2.weight', '2.bias']
>>> sum(p.size for p in net.parameters())
23
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from chainrule import _tensor, function


class Parameter(_tensor.Tensor):
    """A Tensor that is a trainable weight of a Module: ``requires_grad`` is True.

    >>> from chainrule import nn
    >>> w = nn.Parameter([[1.0, 2.0]])
    >>> w.requires_grad, w.is_leaf, w.dtype
    (True, True, dtype('float32'))
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)
        if type(self.data) is not np.ndarray:  # a number: optimizers update weights in place
            self.data = np.array(self.data)

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__().removeprefix("tensor(")


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def zero_grads(params: Iterable[Any], set_to_none: bool = True) -> None:
    """``.grad = None`` for each parameter, or (``set_to_none=False``) its gradient zeroed."""
    for p in params:
        if set_to_none or p.grad is None:
            p.grad = None
        else:  # new zeros: a gradient array may be shared with another tensor's
            p.grad = _tensor.Tensor._wrap(np.zeros_like(p.grad.data), False)


class Module:
    """Base class of layers and networks: subclass it, assign layers in ``__init__``, write
    ``forward``.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> class TwoLayerNet(nn.Module):
    ...     def __init__(self, d, h, c):
    ...         super().__init__()
    ...         self.fc1 = nn.Linear(d, h)
    ...         self.fc2 = nn.Linear(h, c)
    ...     def forward(self, x):
    ...         return self.fc2(self.fc1(x).relu())
    >>> net = TwoLayerNet(2, 8, 3)
    >>> net(cr.tensor(np.zeros((5, 2), np.float32))).shape
    (5, 3)
    >>> net.num_parameters()
    51
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _modules: dict[str, Module | None]
    _buffers: dict[str, np.ndarray | None]

    def __init__(self) -> None:
        d = self.__dict__
        d["_parameters"] = {}
        d["_modules"] = {}
        d["_buffers"] = {}
        d["training"] = True

    # -- registration ---------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"cannot assign {name!r} on {type(self).__name__} before Module.__init__(): "
                "call super().__init__() first in your __init__"
            )
        params, modules, buffers = d["_parameters"], d["_modules"], d["_buffers"]
        params.pop(name, None)
        modules.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
            buffers.pop(name, None)
        elif isinstance(value, Module):
            modules[name] = value
            buffers.pop(name, None)
        elif name in buffers:
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(f"buffer {name!r} must be an ndarray, got {type(value).__name__}")
            buffers[name] = value
        d[name] = value

    def __delattr__(self, name: str) -> None:
        for key in ("_parameters", "_modules", "_buffers"):
            self.__dict__[key].pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: np.ndarray | None) -> None:
        """Keep ``value`` (an ndarray) as saved, untrained state under ``name``.

        >>> from chainrule import nn
        >>> bn = nn.BatchNorm1d(3)
        >>> sorted(bn.state_dict())
        ['bias', 'running_mean', 'running_var', 'weight']
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("register_buffer() before Module.__init__()")
        self.__dict__["_buffers"][name] = value
        self.__setattr__(name, value)

    def register_parameter(self, name: str, value: Parameter | None) -> None:
        """Register ``value`` as a parameter (None leaves the slot empty, e.g. no bias)."""
        if value is None:
            self.__dict__["_parameters"][name] = None
            self.__dict__[name] = None
        else:
            self.__setattr__(name, value)

    # -- traversal ------------------------------------------------------------------------------

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, with dotted names (this one is ``""``)."""
        stack: list[tuple[str, Module]] = [(prefix, self)]
        seen: set[int] = set()
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            children = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items()]
            stack.extend(reversed([(k, c) for k, c in children if c is not None]))

    def modules(self) -> Iterator[Module]:
        """This module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules with their attribute names."""
        for k, m in self._modules.items():
            if m is not None:
                yield k, m

    def children(self) -> Iterator[Module]:
        """The direct submodules."""
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name (``layers.0.weight``), each once."""
        seen: set[int] = set()
        for mname, m in self.named_modules(prefix):
            for k, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{k}" if mname else k), p

    def parameters(self) -> Iterator[Parameter]:
        """Every parameter, each once (give them to an optimizer)."""
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer (saved, untrained state) with its dotted name."""
        for mname, m in self.named_modules(prefix):
            for k, b in m._buffers.items():
                if b is not None:
                    yield (f"{mname}.{k}" if mname else k), b

    def num_parameters(self) -> int:
        """The number of trainable scalars."""
        return sum(p.data.size for p in self.parameters())

    # -- modes and gradients --------------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Training mode (Dropout drops, BatchNorm uses batch statistics); returns self."""
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (Dropout is the identity, BatchNorm uses running statistics)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient (``.grad = None``: the next backward sets it);
        with ``set_to_none=False``, fill each existing gradient with zeros instead.

        >>> from chainrule import nn
        >>> lin = nn.Linear(2, 1); (lin(nn.Parameter([[1.0, 2.0]])).sum()).backward()
        >>> lin.zero_grad(set_to_none=False); lin.weight.grad.tolist()
        [[0.0], [0.0]]
        >>> lin.zero_grad(); lin.weight.grad is None
        True
        """
        zero_grads(self.parameters(), set_to_none)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn(module)`` on every submodule (children first), then on self; returns self,
        as in PyTorch (for custom initialization, say).

        >>> import numpy as np
        >>> from chainrule import nn
        >>> def init(m):
        ...     if isinstance(m, nn.Linear):
        ...         m.weight.data[...] = 0.5
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).apply(init)
        >>> float(net[2].weight.data.sum())
        1.0
        """
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, dtype: Any) -> Module:
        """Convert every parameter and floating-point buffer to the float ``dtype``; returns
        self. Parameters get new arrays (their ``.grad`` is reset), so make the optimizer after.

        >>> import numpy as np
        >>> from chainrule import nn
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).to(np.float64)
        >>> net[0].weight.dtype, net[1].running_mean.dtype
        (dtype('float64'), dtype('float64'))
        """
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: {dt} is not a floating-point dtype")
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.data.dtype != dt:
                    p.data = p.data.astype(dt)
                    p.grad = None
            for name, b in list(m._buffers.items()):
                if b is not None and b.dtype.kind == "f" and b.dtype != dt:
                    setattr(m, name, b.astype(dt))
        return self

    def double(self) -> Module:
        """``to(np.float64)``: e.g. to gradcheck a model."""
        return self.to(np.float64)

    def float(self) -> Module:
        """``to(np.float32)``, the default dtype."""
        return self.to(np.float32)

    # -- state ----------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers by dotted name, as copies (``chainrule.save`` writes this).

        >>> from chainrule import nn
        >>> sd = nn.Linear(2, 3).state_dict()
        >>> {k: v.shape for k, v in sd.items()}
        {'weight': (2, 3), 'bias': (3,)}
        """
        out: dict[str, np.ndarray] = {}
        for k, p in self.named_parameters():
            out[k] = p.data.copy()
        for k, b in self.named_buffers():
            out[k] = np.array(b, copy=True)
        return out

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy ``state`` into the parameters and buffers, in place (optimizers keep working).

        Names, shapes and dtypes are checked first, and nothing is changed if any is wrong:
        one ``ValueError`` lists every missing, unexpected, mis-shaped and mis-typed entry.
        With ``strict=False`` missing and unexpected names are allowed and returned.

        >>> from chainrule import nn
        >>> a, b = nn.Linear(2, 3), nn.Linear(2, 3)
        >>> b.load_state_dict(a.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> bool((a.weight.data == b.weight.data).all())
        True
        """
        own: dict[str, np.ndarray] = {}  # name -> the array to copy into
        for mname, m in self.named_modules():
            for k, p in m._parameters.items():
                if p is not None:
                    own[f"{mname}.{k}" if mname else k] = p.data
            for k, b in m._buffers.items():
                if b is not None:
                    own[f"{mname}.{k}" if mname else k] = b
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        problems = []
        values: dict[str, np.ndarray] = {}
        for k, target in own.items():
            if k not in state:
                continue
            v = state[k]
            value = v.data if isinstance(v, _tensor.Tensor) else np.asarray(v)
            values[k] = value
            if value.shape != target.shape:
                problems.append(f"{k}: shape {value.shape} in the state, {target.shape} here")
            elif value.dtype != target.dtype:
                problems.append(f"{k}: dtype {value.dtype} in the state, {target.dtype} here")
        if problems or (strict and (missing or unexpected)):
            lines = [f"{type(self).__name__}.load_state_dict: the state does not fit this model"]
            if strict and missing:
                lines.append("missing: " + ", ".join(missing))
            if strict and unexpected:
                lines.append("unexpected: " + ", ".join(unexpected))
            lines.extend(problems)
            raise ValueError("\n  ".join(lines))
        for k, value in values.items():
            np.copyto(own[k], value)
        return IncompatibleKeys(missing, unexpected)

    # -- calling --------------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = _next_seq()  # every node this call records gets a larger _seq
        out = self.forward(*args, **kwargs)
        # Tag the output's node with (this module, start) for chainrule.explain, which draws
        # one box per module: its nodes are those behind the output with _seq > start. Inner
        # modules return first, so the list runs inner -> outer. Nothing when nothing recorded.
        if isinstance(out, _Tensor):
            node = out._node
            if node is not None and node._seq > start:
                extra = node._extra
                if extra is None:
                    node._extra = {"modules": [(weakref.ref(self), start)]}
                elif "modules" in extra:
                    extra["modules"].append((weakref.ref(self), start))
                else:
                    extra["modules"] = [(weakref.ref(self), start)]
        return out

    # -- printing -------------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The arguments shown inside this module's repr (layers override it)."""
        return ""

    def __repr__(self) -> str:
        return self._repr(top=True)

    def _repr(self, top: bool) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        lines = []
        for k, m in self.named_children():
            n = m.num_parameters()
            body = m._repr(top=False).replace("\n", "\n  ")
            lines.append(f"  ({k}): {body}" + (f"  # {n:,} parameters" if n else ""))
        out = head + "\n" + "\n".join(lines) + "\n)" if lines else head + ")"
        if top:
            out += f"  # {self.num_parameters():,} parameters"
        return out


_Tensor = _tensor.Tensor
_next_seq = function._next_seq


class ModuleList(Module):
    """Modules kept in a list and registered, so ``parameters()``, ``state_dict()``, ``train()``
    and the optimizers see them (a plain Python list hides them).

    >>> from chainrule import nn
    >>> blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
    >>> len(blocks), len(list(blocks.parameters())), sorted(blocks.state_dict())[:2]
    (3, 6, ['0.bias', '0.weight'])
    """

    _seq: list[Module]

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self.__dict__["_seq"] = []
        self.extend(modules)

    def append(self, module: Module) -> Any:
        """Add a module at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}: item {len(self._seq)} is a {type(module).__name__}, "
                "not a Module"
            )
        setattr(self, str(len(self._seq)), module)
        self._seq.append(module)
        return self

    def extend(self, modules: Iterable[Module]) -> Any:
        """Add each module at the end; returns self."""
        for m in modules:
            self.append(m)
        return self

    def __len__(self) -> int:
        return len(self._seq)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._seq)

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return type(self)(self._seq[i])
        return self._seq[i]


class Sequential(ModuleList):
    """Modules applied one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    >>> net(cr.tensor(np.ones((3, 2), np.float32))).shape
    (3, 1)
    >>> len(net), type(net[1]).__name__
    (3, 'Tanh')
    """

    def __init__(self, *modules: Module) -> None:
        if len(modules) == 1 and isinstance(modules[0], list | tuple):
            modules = tuple(modules[0])
        super().__init__(modules)

    def forward(self, x: Any) -> Any:
        for m in self._seq:
            x = m(x)
        return x
