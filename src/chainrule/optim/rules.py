"""The update rules: SGD (momentum, Nesterov), RMSprop, Adam, AdamW.

Each reads its hyperparameters from the parameter's group at every step (``param_groups``,
``chainrule.optim.base``), so a group's own lr, momentum, betas or weight decay apply to its
parameters alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule import _blas
from chainrule.optim.base import GroupValue, Optimizer, check, fused


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
    momentum, nesterov, weight_decay = GroupValue(), GroupValue(), GroupValue()
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
        # Each parameter's buffer is stored multiplied by the momentum it was last updated
        # with (its scale): mu buf' = mu (mu buf + g) is two NumPy passes (one BLAS axpby),
        # and Nesterov's step direction g + mu buf' is then one more, five passes per step in
        # all instead of six (three BLAS passes).
        self._scale: list[float] = []
        defaults = {"lr": lr, "momentum": momentum, "nesterov": nesterov}
        super().__init__(params, {**defaults, "weight_decay": weight_decay})

    def _check_group(self, group: dict[str, Any], where: str, new: bool = True) -> None:
        super()._check_group(group, where, new)
        check(f"{where} momentum", group["momentum"], 0.0)
        check(f"{where} weight_decay", group["weight_decay"], 0.0)
        if not isinstance(group["nesterov"], bool | np.bool_):
            raise ValueError(f"{where} nesterov must be True or False, got {group['nesterov']!r}")
        if new and group["nesterov"] and group["momentum"] == 0:  # later it may reach 0
            raise ValueError(f"{where}: nesterov=True needs a momentum > 0")

    def _buffers_for(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] else ()

    def _added(self, group: dict[str, Any]) -> None:
        self._scale.append(float(group["momentum"]))

    def _prepare(self, i: int, values: tuple[Any, ...]) -> Any:
        mu = values[1]
        if mu and mu != self._scale[i]:  # momentum changed since the last step
            st = self._state[i]
            if "momentum_buffer" not in st:  # made without momentum: start the buffer at zero
                st["momentum_buffer"] = np.zeros_like(self._bound[i])
                self._chunks[i] = None
            else:  # rescale what is stored
                st["momentum_buffer"] *= mu / self._scale[i]
            self._scale[i] = mu
        return values  # lr, momentum, nesterov, weight_decay

    def _update(
        self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, st: dict[str, np.ndarray], c: Any
    ) -> None:
        lr, mu, nesterov, wd = c
        blas = fused(p, g, *st.values())
        if blas is not None:
            self._update_blas(blas, p, g, st, c)
            return
        if wd:
            np.multiply(p, wd, out=tmp)
            tmp += g  # g + wd p
            g = tmp
        if mu:
            b = st["momentum_buffer"]  # mu * buf
            b += g
            b *= mu  # mu * buf', where buf' = mu buf + g
            if nesterov:  # p -= lr (g + mu buf')
                np.add(g, b, out=tmp)
                tmp *= -lr
            else:  # p -= lr buf'
                np.multiply(b, -lr / mu, out=tmp)
            p += tmp
            return
        np.multiply(g, -lr, out=tmp)
        p += tmp

    def _update_blas(
        self,
        blas: _blas.Routines,
        p: np.ndarray,
        g: np.ndarray,
        st: dict[str, np.ndarray],
        c: Any,
    ) -> None:
        """The same update in one-pass BLAS calls: y = a x + b y (axpby), y += a x (axpy)."""
        lr, mu, nesterov, wd = c
        n, pa, ga = p.size, _blas.address(p), _blas.address(g)
        shrink = 1.0 - lr * wd  # p - lr (g + wd p) = (1 - lr wd) p - lr g
        if not mu:
            blas.axpby(n, -lr, ga, shrink, pa)
            return
        sa = _blas.address(st["momentum_buffer"])  # mu * buf
        blas.axpby(n, mu, ga, mu, sa)  # mu buf' = mu (mu buf + g)
        if wd:
            blas.axpy(n, mu * wd, pa, sa)  # ... + mu wd p: the decay is part of g
        if nesterov:  # p -= lr (g + wd p + mu buf')
            blas.axpby(n, -lr, ga, shrink, pa)
            blas.axpy(n, -lr, sa, pa)
        else:  # p -= lr buf'
            blas.axpy(n, -lr / mu, sa, pa)

    def _export(self, i: int, name: str, buf: np.ndarray) -> np.ndarray:
        return buf / self._scale[i]  # the textbook buffer

    def _import(self, i: int, name: str, value: np.ndarray) -> np.ndarray:
        return value * self._scale[i]

    def _scalars(self) -> dict[str, Any]:
        return {**super()._scalars(), "buffer_scale": list(self._scale)}

    def _match_buffers(self, buffers: dict[str, Any]) -> None:
        # a parameter has a buffer once its group's momentum was nonzero: follow the state's
        for i, st in enumerate(self._state):
            has = f"{i}.momentum_buffer" in buffers
            if has and "momentum_buffer" not in st:
                st["momentum_buffer"] = np.zeros_like(self._bound[i])
            elif not has:
                st.pop("momentum_buffer", None)
            self._chunks[i] = None

    def _load_groups(self, state: dict[str, Any]) -> None:
        super()._load_groups(state)
        scale = state.get("scalars", {}).get("buffer_scale")
        n = len(self.params)
        if isinstance(scale, int | float):  # one scale for all (the one-group format)
            scale = [scale] * n
        if not isinstance(scale, list) or len(scale) != n or "stored" not in state:
            # textbook buffers: stored again at the momentum being loaded
            scale = [g["momentum"] for g in self.param_groups for _ in g["params"]]
        # any positive scale will do; 0 would lose the buffer
        self._scale = [float(s) or 1.0 for s in scale]


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
    alpha, eps, weight_decay = GroupValue(), GroupValue(), GroupValue()

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any], where: str, new: bool = True) -> None:
        super()._check_group(group, where, new)
        check(f"{where} alpha", group["alpha"], 0.0, 1.0)
        check(f"{where} eps", group["eps"], 0.0)
        check(f"{where} weight_decay", group["weight_decay"], 0.0)

    def _prepare(self, i: int, values: tuple[Any, ...]) -> Any:
        return values  # lr, alpha, eps, weight_decay

    def _update(
        self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, st: dict[str, np.ndarray], c: Any
    ) -> None:
        lr, alpha, eps, wd = c
        v = st["square_avg"]
        if wd:
            g = g + wd * p  # the rare case allocates
        blas = fused(p, g, v, tmp)
        if blas is not None:  # 6 passes instead of 9
            n, ta = p.size, _blas.address(tmp)
            np.multiply(g, g, out=tmp)
            blas.axpby(n, 1.0 - alpha, ta, alpha, _blas.address(v))
            np.sqrt(v, out=tmp)
            tmp += eps
            np.divide(g, tmp, out=tmp)
            blas.axpy(n, -lr, ta, _blas.address(p))
            return
        v *= alpha
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - alpha
        v += tmp  # v = alpha v + (1 - alpha) g^2
        np.sqrt(v, out=tmp)
        tmp += eps
        np.divide(g, tmp, out=tmp)
        tmp *= -lr
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
    betas, eps, weight_decay = GroupValue(), GroupValue(), GroupValue()
    _decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self._t: list[int] = []  # steps taken by each parameter (for bias correction)
        self._betas: list[tuple[float, float]] = []  # the betas each parameter's moments use
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any], where: str, new: bool = True) -> None:
        super()._check_group(group, where, new)
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"{where} betas must be a pair (b1, b2), got {betas!r}")
        check(f"{where} betas[0]", betas[0], 0.0, 1.0)
        check(f"{where} betas[1]", betas[1], 0.0, 1.0)
        check(f"{where} eps", group["eps"], 0.0)
        check(f"{where} weight_decay", group["weight_decay"], 0.0)

    def _added(self, group: dict[str, Any]) -> None:
        self._t.append(0)
        self._betas.append(tuple(float(b) for b in group["betas"]))  # type: ignore[arg-type]

    def _prepare(self, i: int, values: tuple[Any, ...]) -> Any:
        """(lr, wd, b1, b2, step size, eps') for mt / (sqrt(vt) + eps') to equal the textbook
        update at this parameter's step t."""
        t = self._t[i] = self._t[i] + 1
        lr, (b1, b2), eps, wd = values
        if (b1, b2) != self._betas[i]:  # changed: keep the textbook m and v, stored anew
            o1, o2 = self._betas[i]
            st = self._state[i]
            st["m"] *= (1.0 - o1) / (1.0 - b1)
            st["v"] *= (1.0 - o2) / (1.0 - b2)
            self._betas[i] = (b1, b2)
        bc1, bc2 = 1.0 - b1**t, 1.0 - b2**t
        c = math.sqrt((1.0 - b2) / bc2)  # sqrt(vhat) = c sqrt(vt)
        return lr, wd, b1, b2, lr * (1.0 - b1) / (bc1 * c), eps / c

    def _update(
        self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, st: dict[str, np.ndarray], c: Any
    ) -> None:
        lr, wd, b1, b2, step, eps = c
        shrink = 1.0  # AdamW: decay the weight itself, outside the moments, p *= 1 - lr wd
        if wd and self._decoupled:
            shrink -= lr * wd
        elif wd:
            g = g + wd * p  # L2 through the gradient (the rare case allocates)
        m, v = st["m"], st["v"]
        blas = fused(p, g, m, v, tmp)
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
        b1, b2 = self._betas[i]
        return buf * ((1.0 - b1) if name == "m" else (1.0 - b2))

    def _import(self, i: int, name: str, value: np.ndarray) -> np.ndarray:
        b1, b2 = self._betas[i]
        return value / ((1.0 - b1) if name == "m" else (1.0 - b2))

    def _scalars(self) -> dict[str, Any]:
        return {
            **super()._scalars(),
            "param_steps": list(self._t),
            "buffer_betas": [list(b) for b in self._betas],  # the betas "stored" is scaled by
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        steps = state.get("scalars", {}).get("param_steps") if isinstance(state, dict) else None
        if not isinstance(steps, list) or len(steps) != len(self.params):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: 'param_steps' must list one step count "
                f"per parameter ({len(self.params)})"
            )
        super().load_state_dict(state)
        self._t = [int(s) for s in steps]

    def _load_groups(self, state: dict[str, Any]) -> None:
        super()._load_groups(state)
        # "stored" moments keep the betas they were scaled by; textbook ones are stored anew
        # at the betas being loaded
        saved = state.get("scalars", {}).get("buffer_betas")
        if (
            "stored" in state
            and isinstance(saved, list)
            and len(saved) == len(self.params)
            and all(isinstance(b, list | tuple) and len(b) == 2 for b in saved)
        ):
            self._betas = [(float(b[0]), float(b[1])) for b in saved]
        else:
            self._betas = [
                (float(g["betas"][0]), float(g["betas"][1]))
                for g in self.param_groups
                for _ in g["params"]
            ]


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
