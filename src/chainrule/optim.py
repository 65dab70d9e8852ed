"""Optimizers and learning-rate schedules: the update rules of CS231n's "Neural Networks 3".

Every optimizer updates the parameters in place under ``no_grad``, with buffers allocated once
per parameter (momentum, moments, one scratch array) so a step allocates nothing per parameter.
Parameters whose ``.grad`` is None are skipped. Where NumPy runs on OpenBLAS (its wheels on
Linux) and a parameter, its gradient and buffers are contiguous float32 or float64 arrays, the
``a x + b y`` steps are one BLAS pass each (``chainrule._blas``) instead of two or three NumPy
passes: the same update, rounded once instead of twice.

- ``SGD``: ``p -= lr * d``, with ``g = grad + weight_decay * p``; with momentum
  ``buf = momentum * buf + g`` and ``d = buf`` (or ``d = g + momentum * buf``, Nesterov); the
  PyTorch form, equal to CS231n's ``v = mu v - lr dx; x += v`` for a constant lr.
- ``RMSprop``: ``v = alpha v + (1 - alpha) g^2;  p -= lr g / (sqrt(v) + eps)``.
- ``Adam``: ``m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr mhat / (sqrt(vhat) + eps)``
  with ``mhat = m / (1 - b1^t)``, ``vhat = v / (1 - b2^t)``; ``weight_decay`` adds ``wd * p`` to g.
- ``AdamW``: Adam with decoupled decay, ``p -= lr * weight_decay * p`` before the Adam step.

``state_dict()`` is plain data, ready for safetensors + JSON: ``{"type": name, "scalars":
{...numbers...}, "buffers": {"<param index>.<name>": ndarray}}``; ``load_state_dict`` checks the
type, the indices and the shapes.

>>> import numpy as np
>>> import chainrule as cr
>>> from chainrule import nn, optim
>>> w = nn.Parameter(np.array([1.0, -2.0]))
>>> opt = optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step()
>>> w.data.tolist()
[0.8, -1.6]
"""

from __future__ import annotations

import concurrent.futures
import math
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule import _blas, _tensor, function

_CHUNK = 1 << 17  # elements per job when a step is split across threads (512 KiB of float32)
_PARALLEL_MIN = 1 << 17  # below this many parameter elements a step runs on one thread
_threads: dict[str, Any] = {"n": None, "pool": None, "pid": None}


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads for optimizer steps on large models (1 turns threading off).

    An update is a few elementwise NumPy passes per parameter, one core each; NumPy releases
    the GIL inside them, so splitting the parameters into chunks across threads runs the passes
    in parallel (as PyTorch's multi-threaded elementwise kernels do). The default is half the
    cores this process may use, at most 4: right after a step's matrix products the BLAS
    library's threads still spin on the cores, and on a 2-core machine a second optimizer
    thread measured no faster (W3: 3.9 ms/step on one thread, 4.0-4.4 on two).

    >>> from chainrule import optim
    >>> optim.set_num_threads(1); optim.get_num_threads()
    1
    >>> optim.set_num_threads(None)  # back to the default
    """
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"set_num_threads: n must be a positive int or None, got {n!r}")
    _threads["n"] = n


def get_num_threads() -> int:
    """The number of threads optimizer steps use (see ``set_num_threads``)."""
    n = _threads["n"]
    if n is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        n = _threads["n"] = max(1, min(4, cores // 2))
    return int(n)


def _run_parallel(update: Any, jobs: list[tuple[Any, ...]], threads: int) -> None:
    """Run the jobs on ``threads`` threads (this one included), balanced by size."""
    pool = _threads["pool"]
    if pool is None or _threads["pid"] != os.getpid() or pool._max_workers != threads - 1:
        # a pool inherited through fork() has no live threads: make a new one
        pool = _threads["pool"] = concurrent.futures.ThreadPoolExecutor(
            threads - 1, thread_name_prefix="chainrule-optim"
        )
        _threads["pid"] = os.getpid()
    groups: list[list[tuple[Any, ...]]] = [[] for _ in range(threads)]
    load = [0] * threads
    for job in sorted(jobs, key=lambda j: -j[0].size):
        k = load.index(min(load))
        groups[k].append(job)
        load[k] += job[0].size

    def work(group: list[tuple[Any, ...]]) -> None:
        for job in group:
            update(*job)

    futures = [pool.submit(work, g) for g in groups[1:] if g]
    try:
        work(groups[0])
    finally:
        for f in futures:
            f.result()  # re-raises a worker's exception


_step_pre_hooks: dict[int, Callable[[Any], None]] = {}


def register_optimizer_step_pre_hook(hook: Callable[[Any], None]) -> Callable[[], None]:
    """Call ``hook(optimizer)`` at the start of every optimizer's ``step()`` (PyTorch's name);
    returns a function that removes it. ``chainrule.distributed.DataParallel`` waits for its
    gradient allreduces here.

    >>> from chainrule import nn, optim
    >>> seen = []
    >>> remove = optim.register_optimizer_step_pre_hook(lambda opt: seen.append(opt.steps))
    >>> w = nn.Parameter([1.0]); w.grad = nn.Parameter([1.0])
    >>> opt = optim.SGD([w], lr=0.1); opt.step(); remove(); opt.step()
    >>> seen
    [0]
    """
    key = id(hook)
    _step_pre_hooks[key] = hook
    return lambda: _step_pre_hooks.pop(key, None) and None


class Optimizer:
    """Base class: holds the parameters, their buffers, ``lr`` and the step count.

    Subclasses list their per-parameter buffers in ``_buffers`` and their hyperparameters in
    ``_hyper``, compute per-parameter scalars in ``_prepare(i)``, and write
    ``_update(p, g, tmp, state, consts)`` on arrays (or on matching chunks of them: the update
    must be elementwise).
    """

    _buffers: tuple[str, ...] = ()
    _hyper: tuple[str, ...] = ()
    _parallel_min = _PARALLEL_MIN  # parameter elements from which a step uses threads

    def __init__(self, params: Iterable[Any], lr: float) -> None:
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        seen: set[int] = set()
        for i, p in enumerate(params):
            if not isinstance(p, _tensor.Tensor):
                raise TypeError(
                    f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, not a "
                    "Tensor (pass model.parameters())"
                )
            if not p.requires_grad or p.data.dtype.kind != "f":
                raise ValueError(
                    f"{type(self).__name__}: parameter {i} (shape {p.shape}) does not require "
                    "grad or is not floating point"
                )
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: parameter {i} appears twice")
            seen.add(id(p))
        if lr < 0:
            raise ValueError(f"{type(self).__name__}: lr must be >= 0, got {lr}")
        self.params: list[Any] = params
        self.lr = float(lr)
        self.steps = 0  # calls of step()
        self._state: list[dict[str, np.ndarray]] = [
            {name: np.zeros_like(p.data) for name in self._buffers} for p in params
        ]
        self._tmp = [np.empty_like(p.data) for p in params]
        self._numel = sum(p.data.size for p in params)
        # the arrays updated in place (a number's tensor holds a NumPy scalar: made an array)
        self._bound: list[np.ndarray] = [p._writable() for p in params]
        self._chunks: list[list[tuple[Any, ...]] | None] = [None] * len(params)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``.grad = None``)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        if _step_pre_hooks:
            for hook in list(_step_pre_hooks.values()):
                hook(self)
        with function.no_grad():
            self.steps += 1
            version = function.new_version()  # one stamp for every parameter changed now
            threads = get_num_threads()
            parallel = threads > 1 and self._numel >= self._parallel_min
            jobs: list[tuple[Any, ...]] = []
            for i, p in enumerate(self.params):
                g = p.grad
                if g is None:
                    continue
                pd, gd = p.data, g.data
                if gd.shape != pd.shape:
                    raise ValueError(
                        f"{type(self).__name__}.step: parameter {i} has shape {p.shape} but its "
                        f"gradient has shape {gd.shape}"
                    )
                if pd is not self._bound[i]:
                    pd = self._rebind(i, pd)
                consts = self._prepare(i)
                chunks = self._chunk_views(i) if parallel else None
                if chunks is None:
                    jobs.append((pd, gd, self._tmp[i], self._state[i], consts))
                else:
                    gflat = np.ascontiguousarray(gd).reshape(-1)
                    for pv, tv, sv, lo, hi in chunks:
                        jobs.append((pv, gflat[lo:hi], tv, sv, consts))
                p._version = version  # changed in place: older graphs refuse to backward
            if parallel and len(jobs) > 1:
                _run_parallel(self._update, jobs, threads)
            else:
                update = self._update
                for job in jobs:
                    update(*job)

    def _rebind(self, i: int, data: np.ndarray) -> np.ndarray:
        """The user replaced ``param.data``: follow the new array (same shape required)."""
        data = self.params[i]._writable()  # p.data = (p - lr * g).data may be a NumPy scalar
        if data.shape != self._tmp[i].shape:
            raise ValueError(
                f"{type(self).__name__}.step: parameter {i} changed shape from "
                f"{self._tmp[i].shape} to {data.shape}; make a new optimizer"
            )
        self._bound[i] = data
        self._chunks[i] = None
        return data

    def _chunk_views(self, i: int) -> list[tuple[Any, ...]] | None:
        """Matching flat slices of a parameter and its buffers, for the threads (cached)."""
        chunks = self._chunks[i]
        if chunks is None:
            p = self._bound[i]
            if not p.flags.c_contiguous or p.size <= _CHUNK:
                return None
            flat = p.reshape(-1)
            tmp = self._tmp[i].reshape(-1)
            state = {k: v.reshape(-1) for k, v in self._state[i].items()}
            chunks = []
            for lo in range(0, p.size, _CHUNK):
                hi = min(lo + _CHUNK, p.size)
                views = {k: v[lo:hi] for k, v in state.items()}
                chunks.append((flat[lo:hi], tmp[lo:hi], views, lo, hi))
            self._chunks[i] = chunks
        return chunks

    def _prepare(self, i: int) -> Any:
        """Per-parameter scalars for this step (bias corrections), computed before the update."""
        return None

    def _update(
        self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, st: dict[str, np.ndarray], c: Any
    ) -> None:
        raise NotImplementedError

    # -- state ----------------------------------------------------------------------------------

    def _scalars(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lr": self.lr, "steps": self.steps}
        for k in self._hyper:
            v = getattr(self, k)
            out[k] = list(v) if isinstance(v, tuple) else v
        return out

    def _export(self, i: int, name: str, buf: np.ndarray) -> np.ndarray:
        """A buffer as the textbook defines it (subclasses may store it scaled)."""
        return buf.copy()

    def _import(self, i: int, name: str, value: np.ndarray) -> np.ndarray:
        return value

    def state_dict(self) -> dict[str, Any]:
        """``{"type", "scalars" (JSON-able), "buffers" ("<index>.<name>" -> ndarray copy)}``.

        >>> import numpy as np
        >>> from chainrule import nn, optim
        >>> sd = optim.Adam([nn.Parameter(np.zeros(3))]).state_dict()
        >>> sd["type"], sorted(sd["buffers"]), sd["scalars"]["betas"]
        ('Adam', ['0.m', '0.v'], [0.9, 0.999])
        """
        buffers = {
            f"{i}.{name}": self._export(i, name, buf)
            for i, st in enumerate(self._state)
            for name, buf in st.items()
        }
        out = {"type": type(self).__name__, "scalars": self._scalars(), "buffers": buffers}
        if type(self)._export is not Optimizer._export:
            # The buffers are stored scaled: rescaling rounds, so keep them as stored too, and
            # load_state_dict restores those, making a resumed run bitwise equal to one that
            # ran straight through.
            out["stored"] = {
                f"{i}.{name}": buf.copy()
                for i, st in enumerate(self._state)
                for name, buf in st.items()
            }
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output (buffers are copied into the existing arrays).

        >>> import numpy as np
        >>> from chainrule import nn, optim
        >>> p = nn.Parameter(np.zeros(2))
        >>> a, b = optim.SGD([p], lr=0.1, momentum=0.9), optim.SGD([p], lr=0.5, momentum=0.9)
        >>> b.load_state_dict(a.state_dict()); b.lr
        0.1
        """
        name = type(self).__name__
        if state.get("type") != name:
            raise ValueError(f"{name}.load_state_dict: the state is for {state.get('type')!r}")
        scalars, buffers = state.get("scalars", {}), state.get("buffers", {})
        problems = []
        expected = {f"{i}.{k}" for i, st in enumerate(self._state) for k in st}
        for key in sorted(expected - set(buffers)):
            problems.append(f"missing buffer {key}")
        for key in sorted(set(buffers) - expected):
            problems.append(
                f"unexpected buffer {key} (this optimizer has {len(self.params)} parameters)"
            )
        for key in sorted(expected & set(buffers)):
            i, k = key.split(".", 1)
            want = self._state[int(i)][k].shape
            got = np.shape(buffers[key])
            if got != want:
                problems.append(f"buffer {key}: shape {got} in the state, {want} here")
        for k in ("lr", "steps", *self._hyper):
            if k not in scalars:
                problems.append(f"missing scalar {k!r}")
        if problems:
            raise ValueError(f"{name}.load_state_dict: " + "; ".join(problems))
        self.lr = float(scalars["lr"])
        self.steps = int(scalars["steps"])
        for k in self._hyper:
            v = scalars[k]
            setattr(self, k, tuple(v) if isinstance(v, list) else v)
        stored = state.get("stored")
        if stored is not None and set(stored) == expected:  # exact, as this class stores them
            for key, value in stored.items():
                i, k = key.split(".", 1)
                np.copyto(self._state[int(i)][k], np.asarray(value), casting="same_kind")
        else:
            for key, value in buffers.items():
                i, k = key.split(".", 1)
                arr = np.asarray(value)
                np.copyto(self._state[int(i)][k], self._import(int(i), k, arr), casting="same_kind")
        self._after_load()

    def _after_load(self) -> None:
        pass

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={getattr(self, k)}" for k in self._hyper)
        return f"{type(self).__name__}({len(self.params)} parameters, lr={self.lr}, {hyper})"


def _fused(p: np.ndarray, g: Any, *buffers: np.ndarray) -> _blas.Routines | None:
    """BLAS's one-pass axpy/axpby for this update, or None where the arrays do not fit them
    (another dtype, not contiguous, a gradient of another dtype) or NumPy has no OpenBLAS."""
    blas = _blas.routines(p.dtype)
    if blas is None or not _blas.fits(p.dtype, p, g, *buffers):
        return None
    return blas


def _check(name: str, value: float, lo: float, hi: float | None = None) -> float:
    value = float(value)
    if value < lo or (hi is not None and value >= hi):
        rng = f"[{lo}, {hi})" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {rng}, got {value}")
    return value


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, Nesterov momentum and L2 decay.

    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> w = nn.Parameter(np.array([1.0]))
    >>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     w.grad = nn.Parameter(np.array([1.0]))   # a constant gradient of 1
    ...     opt.step()
    >>> round(float(w.data[0]), 4)   # 1 - 0.1 * 1 - 0.1 * (0.9 + 1)
    0.71
    """

    _hyper = ("momentum", "nesterov", "weight_decay")
    # two to four cheap passes: threads pay only on very large models (measured on W2, where
    # they competed with OpenBLAS's still-spinning GEMM threads and lost)
    _parallel_min = 1 << 22

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        self.momentum = _check("SGD: momentum", momentum, 0.0)
        self.nesterov = bool(nesterov)
        self.weight_decay = _check("SGD: weight_decay", weight_decay, 0.0)
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0")
        self._buffers = ("momentum_buffer",) if momentum else ()
        # The buffer is stored multiplied by the momentum it was last updated with (this
        # scale): mu buf' = mu (mu buf + g) is two NumPy passes (one BLAS axpby), and
        # Nesterov's step direction g + mu buf' is then one more, five passes per step in all
        # instead of six (three BLAS passes).
        self._scale = self.momentum
        super().__init__(params, lr)

    def _prepare(self, i: int) -> Any:
        mu = self.momentum
        if mu and mu != self._scale:  # momentum changed since the last step
            if not self._buffers:  # made without momentum: start the buffers now, at zero
                self._buffers = ("momentum_buffer",)
                for st, p in zip(self._state, self._bound, strict=True):
                    st["momentum_buffer"] = np.zeros_like(p)
                self._chunks = [None] * len(self.params)
            else:  # rescale what is stored
                for st in self._state:
                    st["momentum_buffer"] *= mu / self._scale
            self._scale = mu
        return None

    def _update(
        self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, st: dict[str, np.ndarray], c: Any
    ) -> None:
        blas = _fused(p, g, *st.values())
        if blas is not None:
            self._update_blas(blas, p, g, st)
            return
        if self.weight_decay:
            np.multiply(p, self.weight_decay, out=tmp)
            tmp += g  # g + wd p
            g = tmp
        mu = self.momentum
        if mu:
            b = st["momentum_buffer"]  # mu * buf
            b += g
            b *= mu  # mu * buf', where buf' = mu buf + g
            if self.nesterov:  # p -= lr (g + mu buf')
                np.add(g, b, out=tmp)
                tmp *= -self.lr
            else:  # p -= lr buf'
                np.multiply(b, -self.lr / mu, out=tmp)
            p += tmp
            return
        np.multiply(g, -self.lr, out=tmp)
        p += tmp

    def _update_blas(
        self, blas: _blas.Routines, p: np.ndarray, g: np.ndarray, st: dict[str, np.ndarray]
    ) -> None:
        """The same update in one-pass BLAS calls: y = a x + b y (axpby), y += a x (axpy)."""
        n, lr, mu, wd = p.size, self.lr, self.momentum, self.weight_decay
        pa, ga = _blas.address(p), _blas.address(g)
        shrink = 1.0 - lr * wd  # p - lr (g + wd p) = (1 - lr wd) p - lr g
        if not mu:
            blas.axpby(n, -lr, ga, shrink, pa)
            return
        sa = _blas.address(st["momentum_buffer"])  # mu * buf
        blas.axpby(n, mu, ga, mu, sa)  # mu buf' = mu (mu buf + g)
        if wd:
            blas.axpy(n, mu * wd, pa, sa)  # ... + mu wd p: the decay is part of g
        if self.nesterov:  # p -= lr (g + wd p + mu buf')
            blas.axpby(n, -lr, ga, shrink, pa)
            blas.axpy(n, -lr, sa, pa)
        else:  # p -= lr buf'
            blas.axpy(n, -lr / mu, sa, pa)

    def _export(self, i: int, name: str, buf: np.ndarray) -> np.ndarray:
        return buf / self._scale  # the textbook buffer

    def _import(self, i: int, name: str, value: np.ndarray) -> np.ndarray:
        return value * self._scale

    def _scalars(self) -> dict[str, Any]:
        out = super()._scalars()
        out["buffer_scale"] = self._scale
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        scale = state.get("scalars", {}).get("buffer_scale")
        if scale is None or "stored" not in state:
            # textbook buffers: stored again at the momentum being loaded
            scale = state.get("scalars", {}).get("momentum", self.momentum)
        self._scale = float(scale) or 1.0  # any positive scale will do; 0 would lose the buffer
        super().load_state_dict(state)


class RMSprop(Optimizer):
    """RMSprop (Hinton): divide the step by a running root-mean-square of the gradient.

    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> w = nn.Parameter(np.array([1.0]))
    >>> w.grad = nn.Parameter(np.array([2.0]))
    >>> optim.RMSprop([w], lr=0.01, alpha=0.99).step()
    >>> round(float(w.data[0]), 4)   # 1 - 0.01 * 2 / sqrt(0.01 * 4)
    0.9
    """

    _buffers = ("square_avg",)
    _hyper = ("alpha", "eps", "weight_decay")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.alpha = _check("RMSprop: alpha", alpha, 0.0, 1.0)
        self.eps = _check("RMSprop: eps", eps, 0.0)
        self.weight_decay = _check("RMSprop: weight_decay", weight_decay, 0.0)
        super().__init__(params, lr)

    def _update(
        self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, st: dict[str, np.ndarray], c: Any
    ) -> None:
        v = st["square_avg"]
        if self.weight_decay:
            g = g + self.weight_decay * p  # the rare case allocates
        blas = _fused(p, g, v, tmp)
        if blas is not None:  # 6 passes instead of 9
            n, ta = p.size, _blas.address(tmp)
            np.multiply(g, g, out=tmp)
            blas.axpby(n, 1.0 - self.alpha, ta, self.alpha, _blas.address(v))
            np.sqrt(v, out=tmp)
            tmp += self.eps
            np.divide(g, tmp, out=tmp)
            blas.axpy(n, -self.lr, ta, _blas.address(p))
            return
        v *= self.alpha
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - self.alpha
        v += tmp  # v = alpha v + (1 - alpha) g^2
        np.sqrt(v, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        tmp *= -self.lr
        p += tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction; ``weight_decay`` is L2 added to the gradient.

    Stored scaled to save passes over memory: ``mt = m / (1 - b1)`` and ``vt = v / (1 - b2)``
    follow ``mt = b1 mt + g`` and ``vt = b2 vt + g^2``; the step folds the constants back in, so
    the update is the textbook one. ``state_dict`` shows the textbook m and v.

    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> w = nn.Parameter(np.array([1.0, 1.0]))
    >>> w.grad = nn.Parameter(np.array([0.5, -3.0]))
    >>> optim.Adam([w], lr=0.1).step()
    >>> w.data.round(6).tolist()        # the first step moves each weight by lr * sign(g)
    [0.9, 1.1]
    """

    _buffers = ("m", "v")
    _hyper = ("betas", "eps", "weight_decay")
    _decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        b1, b2 = betas
        self.betas = (
            _check("Adam: betas[0]", b1, 0.0, 1.0),
            _check("Adam: betas[1]", b2, 0.0, 1.0),
        )
        self.eps = _check("Adam: eps", eps, 0.0)
        self.weight_decay = _check(f"{type(self).__name__}: weight_decay", weight_decay, 0.0)
        super().__init__(params, lr)
        self._t = [0] * len(self.params)  # steps taken by each parameter (for bias correction)

    def _prepare(self, i: int) -> tuple[float, float]:
        """(step size, eps') for mt / (sqrt(vt) + eps') to equal the textbook update at this
        parameter's step t."""
        t = self._t[i] = self._t[i] + 1
        b1, b2 = self.betas
        bc1, bc2 = 1.0 - b1**t, 1.0 - b2**t
        c = math.sqrt((1.0 - b2) / bc2)  # sqrt(vhat) = c sqrt(vt)
        return self.lr * (1.0 - b1) / (bc1 * c), self.eps / c

    def _update(
        self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, st: dict[str, np.ndarray], c: Any
    ) -> None:
        b1, b2 = self.betas
        wd = self.weight_decay
        shrink = 1.0  # AdamW: decay the weight itself, outside the moments, p *= 1 - lr wd
        if wd and self._decoupled:
            shrink -= self.lr * wd
        elif wd:
            g = g + wd * p  # L2 through the gradient (the rare case allocates)
        m, v = st["m"], st["v"]
        step, eps = c
        blas = _fused(p, g, m, v, tmp)
        if blas is not None:  # 7 passes instead of 10
            n, pa, ga, ta = p.size, _blas.address(p), _blas.address(g), _blas.address(tmp)
            blas.axpby(n, 1.0, ga, b1, _blas.address(m))  # mt = b1 mt + g
            np.multiply(g, g, out=tmp)
            blas.axpby(n, 1.0, ta, b2, _blas.address(v))  # vt = b2 vt + g^2
            np.sqrt(v, out=tmp)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            blas.axpby(n, -step, ta, shrink, pa)  # p = shrink p - step mt / (sqrt(vt) + eps)
            return
        if shrink != 1.0:
            p *= shrink
        m *= b1
        m += g  # mt = b1 mt + g
        v *= b2
        np.multiply(g, g, out=tmp)
        v += tmp  # vt = b2 vt + g^2
        np.sqrt(v, out=tmp)
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= -step
        p += tmp

    def _export(self, i: int, name: str, buf: np.ndarray) -> np.ndarray:
        b1, b2 = self.betas
        return buf * ((1.0 - b1) if name == "m" else (1.0 - b2))

    def _import(self, i: int, name: str, value: np.ndarray) -> np.ndarray:
        b1, b2 = self.betas
        return value / ((1.0 - b1) if name == "m" else (1.0 - b2))

    def _scalars(self) -> dict[str, Any]:
        out = super()._scalars()
        out["param_steps"] = list(self._t)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        steps = state.get("scalars", {}).get("param_steps")
        if steps is None or len(steps) != len(self.params):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: 'param_steps' must list one step count "
                f"per parameter ({len(self.params)})"
            )
        super().load_state_dict(state)
        self._t = [int(s) for s in steps]


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): ``p -= lr * wd * p`` each
    step, apart from the adaptive update.

    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> w = nn.Parameter(np.array([1.0]))
    >>> w.grad = nn.Parameter(np.array([0.0]))
    >>> optim.AdamW([w], lr=0.1, weight_decay=0.5).step()
    >>> round(float(w.data[0]), 4)   # decay only: 1 - 0.1 * 0.5
    0.95
    """

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


# -- learning-rate schedules ----------------------------------------------------------------------


class LRScheduler:
    """Base class: sets ``optimizer.lr`` from the epoch count; call ``step()`` once per epoch."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def get_lr(self) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set the optimizer's lr."""
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr()

    def get_last_lr(self) -> float:
        """The lr the optimizer uses now."""
        return self.optimizer.lr

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: the epoch count and base lr (plus the schedule's settings)."""
        return {
            "type": type(self).__name__,
            **{k: v for k, v in vars(self).items() if k != "optimizer"},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output."""
        if state.get("type") != type(self).__name__:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: state is for {state.get('type')!r}"
            )
        own = {k for k in vars(self) if k != "optimizer"}
        unknown = sorted(set(state) - own - {"type"})
        missing = sorted(own - set(state))
        if unknown or missing:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: unknown keys {unknown}, missing {missing}"
            )
        for k in own:
            setattr(self, k, state[k])


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs.

    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> sched = optim.StepLR(opt, step_size=2, gamma=0.1)
    >>> lrs = []
    >>> for _ in range(4):
    ...     sched.step(); lrs.append(round(opt.lr, 6))
    >>> lrs
    [1.0, 0.1, 0.1, 0.01]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        super().__init__(optimizer)
        self.step_size, self.gamma = int(step_size), float(gamma)

    def get_lr(self) -> float:
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineLR(LRScheduler):
    """Cosine annealing from the initial lr to ``eta_min`` over ``T_max`` epochs, then held:
    ``lr = eta_min + (base - eta_min) (1 + cos(pi min(t, T_max) / T_max)) / 2``.

    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> sched = optim.CosineLR(opt, T_max=2)
    >>> sched.step(); round(opt.lr, 6)
    0.5
    >>> sched.step(); sched.step(); round(opt.lr, 6)
    0.0
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:  # noqa: N803
        if T_max < 1:
            raise ValueError(f"CosineLR: T_max must be >= 1, got {T_max}")
        super().__init__(optimizer)
        self.T_max, self.eta_min = int(T_max), float(eta_min)

    def get_lr(self) -> float:
        t = min(self.last_epoch, self.T_max)
        return (
            self.eta_min
            + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
        )
