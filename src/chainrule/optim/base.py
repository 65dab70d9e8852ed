"""The optimizer machinery: parameter groups, threaded steps, state dicts.

An optimizer holds its parameters in ``param_groups``, a list of dicts as in PyTorch: each has
``"params"`` (a list of Tensors) and the hyperparameters its update uses (``"lr"``,
``"weight_decay"``, ...), defaulting to the constructor's arguments. The dicts are live: a
change to ``group["lr"]`` is used by the next ``step()``. ``optimizer.lr`` (and each named
hyperparameter) reads the value every group shares and sets it in every group.

>>> import numpy as np
>>> from chainrule import nn, optim
>>> w, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
>>> opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
>>> [g["lr"] for g in opt.param_groups]
[0.1, 0.5]
>>> w.grad, b.grad = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
>>> opt.step(); w.data.tolist(), b.data.tolist()
([0.9, 0.9], [0.5, 0.5])
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule import _blas, _tensor, function
from chainrule.optim.threads import (
    CHUNK,
    PARALLEL_MIN,
    get_num_threads,
    run_parallel,
    step_pre_hooks,
)


class GroupValue:
    """``optimizer.<name>``: the value of ``name`` that every param group shares; setting it
    sets it in every group (``opt.lr = 0.01``). Where the groups differ, reading it is an
    error that points to ``param_groups``.

    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    >>> opt.lr = 0.05; opt.param_groups[0]["lr"]
    0.05
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        values = [g[self.name] for g in obj.param_groups]
        if any(v != values[0] for v in values[1:]):
            raise AttributeError(
                f"{type(obj).__name__}.{self.name}: the param groups have different values "
                f"{values}; read optimizer.param_groups[i][{self.name!r}]"
            )
        return values[0]

    def __set__(self, obj: Any, value: Any) -> None:
        for g in obj.param_groups:
            g[self.name] = value


def _json_value(v: Any) -> bool:
    if v is None or isinstance(v, bool | int | float | str):
        return True
    return isinstance(v, list | tuple) and all(_json_value(x) for x in v)


class Optimizer:
    """Base class: holds the param groups, each parameter's buffers and the step count.

    Subclasses list their hyperparameters in ``_hyper`` (``lr`` is always one) with a check
    each in ``_check_group``, their per-parameter buffers in ``_buffers`` (or
    ``_buffers_for(group)``), turn a group's values into the scalars of one parameter's update
    in ``_prepare(i, group)``, and write ``_update(p, g, tmp, state, consts)`` on arrays (or on
    matching chunks of them: the update must be elementwise and read nothing but its
    arguments).
    """

    _buffers: tuple[str, ...] = ()
    _hyper: tuple[str, ...] = ()
    _parallel_min = PARALLEL_MIN  # parameter elements from which a step uses threads
    lr = GroupValue()

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        items = list(params) if not isinstance(params, _tensor.Tensor) else [params]
        if not items:
            raise ValueError(f"{name}: got an empty parameter list")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.params: list[Any] = []  # every group's parameters, in order: index i of the state
        self.steps = 0  # calls of step()
        self._state: list[dict[str, np.ndarray]] = []
        self._tmp: list[np.ndarray] = []
        self._bound: list[np.ndarray] = []  # the arrays updated in place
        self._chunks: list[list[tuple[Any, ...]] | None] = []
        self._numel = 0
        self._keys = ("lr", *self._hyper)
        self._checked: list[tuple[Any, ...]] = []  # each group's values when last checked
        self._ids: list[list[int]] = []  # each group's parameters, to notice a changed list
        if all(isinstance(x, dict) for x in items):
            for group in items:
                self.add_param_group(group)  # type: ignore[arg-type]
        elif any(isinstance(x, dict) for x in items):
            raise TypeError(
                f"{name}: pass either parameters or param-group dicts "
                '({"params": [...], "lr": ...}), not a mix'
            )
        else:
            self.add_param_group({"params": items})

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, with hyperparameters of its own (the rest default to the
        constructor's), e.g. layers unfrozen while fine-tuning.

        >>> import numpy as np
        >>> from chainrule import nn, optim
        >>> opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
        >>> opt.add_param_group({"params": [nn.Parameter(np.zeros(2))], "lr": 0.01})
        >>> [(g["lr"], g["momentum"]) for g in opt.param_groups]
        [(0.1, 0.9), (0.01, 0.9)]
        """
        name = type(self).__name__
        where = f"{name}: param_groups[{len(self.param_groups)}]"
        if not isinstance(param_group, dict):
            raise TypeError(f"{where} must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f'{where} has no "params"')
        unknown = sorted(set(param_group) - {"params", "lr", *self._hyper, "initial_lr"})
        if unknown:
            raise ValueError(
                f"{where}: unknown hyperparameters {unknown} ({name} takes lr, "
                + ", ".join(self._hyper)
                + ")"
            )
        ps = param_group["params"]
        ps = [ps] if isinstance(ps, _tensor.Tensor) else list(ps)
        if not ps:
            raise ValueError(f"{where} has an empty parameter list")
        owner = {id(p): k for k, g in enumerate(self.param_groups) for p in g["params"]}
        seen: set[int] = set()
        for j, p in enumerate(ps):
            if not isinstance(p, _tensor.Tensor):
                raise TypeError(
                    f"{where}: parameter {j} is a {type(p).__name__}, not a Tensor (pass "
                    "model.parameters())"
                )
            if not p.requires_grad or p.data.dtype.kind != "f":
                raise ValueError(
                    f"{where}: parameter {j} (shape {p.shape}) does not require grad or is "
                    "not floating point"
                )
            if id(p) in owner:
                raise ValueError(
                    f"{where}: parameter {j} (shape {p.shape}) is already in param_groups"
                    f"[{owner[id(p)]}]: a parameter may be in one group only"
                )
            if id(p) in seen:
                raise ValueError(f"{where}: parameter {j} appears twice")
            seen.add(id(p))
        group = {**self.defaults, **param_group, "params": ps}
        self._check_group(group, where)
        self.param_groups.append(group)
        self._checked.append(self._values(group))
        self._ids.append([id(p) for p in ps])
        for p in ps:
            self.params.append(p)
            self._state.append({b: np.zeros_like(p.data) for b in self._buffers_for(group)})
            self._tmp.append(np.empty_like(p.data))
            # a number's tensor holds a NumPy scalar: made an array
            self._bound.append(p._writable())
            self._chunks.append(None)
            self._numel += p.data.size
            self._added(group)

    def _added(self, group: dict[str, Any]) -> None:
        """A parameter of ``group`` was appended (subclasses extend their own lists)."""

    def _buffers_for(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self._buffers

    def _values(self, group: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(map(group.get, self._keys))

    def _check_group(self, group: dict[str, Any], where: str, new: bool = True) -> None:
        """Raise a clear error for a bad value in ``group`` (subclasses check their own);
        ``new``: the group is being added (not changed between steps)."""
        check(f"{where} lr", group["lr"], 0.0)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient (``.grad = None``); with ``set_to_none=False``
        fill each existing gradient with zeros instead (as in PyTorch)."""
        from chainrule.nn.module import zero_grads

        zero_grads(self.params, set_to_none)

    def _groups(self) -> list[tuple[int, int, tuple[Any, ...]]]:
        """(the indices of the group's first and after last parameter, its values
        ``(lr, *_hyper)``) per group;
        a group whose values changed since the last step is checked again."""
        out, i = [], 0
        for k, group in enumerate(self.param_groups):
            ps = group["params"]
            if list(map(id, ps)) != self._ids[k]:
                raise ValueError(
                    f"{type(self).__name__}.step: param_groups[{k}]['params'] was changed; "
                    "add parameters with add_param_group"
                )
            values = tuple(map(group.get, self._keys))
            if values != self._checked[k]:
                self._check_group(group, f"{type(self).__name__}.step: param_groups[{k}]", False)
                self._checked[k] = values
            out.append((i, i + len(ps), values))
            i += len(ps)
        return out

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        if step_pre_hooks:
            for hook in list(step_pre_hooks.values()):
                hook(self)
        with function.no_grad():
            groups = self._groups()
            self.steps += 1
            version = function.new_version()  # one stamp for every parameter changed now
            threads = get_num_threads()
            parallel = threads > 1 and self._numel >= self._parallel_min
            jobs: list[tuple[Any, ...]] = []
            params = self.params
            for start, stop, values in groups:
                for i in range(start, stop):
                    p = params[i]
                    g = p.grad
                    if g is None:
                        continue
                    pd, gd = p.data, g.data
                    if gd.shape != pd.shape:
                        raise ValueError(
                            f"{type(self).__name__}.step: parameter {i} has shape {p.shape} but "
                            f"its gradient has shape {gd.shape}"
                        )
                    if pd is not self._bound[i]:
                        pd = self._rebind(i, pd)
                    consts = self._prepare(i, values)
                    chunks = self._chunk_views(i) if parallel else None
                    if chunks is None:
                        jobs.append((pd, gd, self._tmp[i], self._state[i], consts))
                    else:
                        gflat = np.ascontiguousarray(gd).reshape(-1)
                        for pv, tv, sv, lo, hi in chunks:
                            jobs.append((pv, gflat[lo:hi], tv, sv, consts))
                    p._version = version  # changed in place: older graphs refuse to backward
            if parallel and len(jobs) > 1:
                run_parallel(self._update, jobs, threads)
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
            if not p.flags.c_contiguous or p.size <= CHUNK:
                return None
            flat = p.reshape(-1)
            tmp = self._tmp[i].reshape(-1)
            state = {k: v.reshape(-1) for k, v in self._state[i].items()}
            chunks = []
            for lo in range(0, p.size, CHUNK):
                hi = min(lo + CHUNK, p.size)
                views = {k: v[lo:hi] for k, v in state.items()}
                chunks.append((flat[lo:hi], tmp[lo:hi], views, lo, hi))
            self._chunks[i] = chunks
        return chunks

    def _prepare(self, i: int, values: tuple[Any, ...]) -> Any:
        """The scalars of parameter ``i``'s update at this step, from its group's checked
        values ``(lr, *_hyper)``."""
        raise NotImplementedError

    def _update(
        self, p: np.ndarray, g: np.ndarray, tmp: np.ndarray, st: dict[str, np.ndarray], c: Any
    ) -> None:
        raise NotImplementedError

    # -- state ----------------------------------------------------------------------------------

    def _scalars(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def _export(self, i: int, name: str, buf: np.ndarray) -> np.ndarray:
        """A buffer as the textbook defines it (subclasses may store it scaled)."""
        return buf.copy()

    def _import(self, i: int, name: str, value: np.ndarray) -> np.ndarray:
        return value

    def state_dict(self) -> dict[str, Any]:
        """``{"type", "scalars", "param_groups" (JSON-able), "buffers" ("<index>.<name>" ->
        ndarray copy)}``; in ``param_groups`` each group's ``"params"`` lists the indices of
        its parameters (as in PyTorch).

        >>> import numpy as np
        >>> from chainrule import nn, optim
        >>> sd = optim.Adam([nn.Parameter(np.zeros(3))]).state_dict()
        >>> sd["type"], sorted(sd["buffers"]), sd["param_groups"][0]["betas"]
        ('Adam', ['0.m', '0.v'], [0.9, 0.999])
        """
        buffers = {
            f"{i}.{name}": self._export(i, name, buf)
            for i, st in enumerate(self._state)
            for name, buf in st.items()
        }
        groups, i = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            saved: dict[str, Any] = {"params": list(range(i, i + n))}
            for k, v in group.items():
                if k != "params" and _json_value(v):
                    saved[k] = list(v) if isinstance(v, tuple) else v
            groups.append(saved)
            i += n
        out = {
            "type": type(self).__name__,
            "scalars": self._scalars(),
            "param_groups": groups,
            "buffers": buffers,
        }
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

    def _load_groups(self, state: dict[str, Any]) -> None:
        """Set each group's values from the state (a state of before param groups held them in
        ``scalars``, for one group)."""
        name = type(self).__name__
        scalars = state.get("scalars", {})
        saved = state.get("param_groups")
        if saved is None:  # the one-group format
            missing = [k for k in ("lr", *self._hyper) if k not in scalars]
            if missing or len(self.param_groups) != 1:
                raise ValueError(
                    f"{name}.load_state_dict: the state has no param_groups"
                    + (f" and no scalars {missing}" if missing else " and this optimizer has "
                       f"{len(self.param_groups)} groups")
                )  # fmt: skip
            saved = [{k: scalars[k] for k in ("lr", *self._hyper)}]
            saved[0]["params"] = list(range(len(self.params)))
        if not isinstance(saved, list) or len(saved) != len(self.param_groups):
            count = len(saved) if isinstance(saved, list) else "no list of"
            raise ValueError(
                f"{name}.load_state_dict: the state has {count} param groups, this optimizer "
                f"{len(self.param_groups)}"
            )
        for k, (s, g) in enumerate(zip(saved, self.param_groups, strict=True)):
            if not isinstance(s, dict) or len(s.get("params", ())) != len(g["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: param group {k} of the state has "
                    f"{len(s.get('params', ())) if isinstance(s, dict) else 'no'} parameters, "
                    f"this optimizer's {len(g['params'])}"
                )
        for k, (s, g) in enumerate(zip(saved, self.param_groups, strict=True)):
            new = {**g}
            for key, v in s.items():
                if key != "params":
                    new[key] = tuple(v) if isinstance(v, list) else v
            self._check_group(new, f"{name}.load_state_dict: param group {k}", False)
            g.update(new)
            self._checked[k] = self._values(g)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s output: each group's values (its parameters stay),
        the step count, and the buffers (copied into the existing arrays).

        >>> import numpy as np
        >>> from chainrule import nn, optim
        >>> p = nn.Parameter(np.zeros(2))
        >>> a, b = optim.SGD([p], lr=0.1, momentum=0.9), optim.SGD([p], lr=0.5, momentum=0.9)
        >>> b.load_state_dict(a.state_dict()); b.lr
        0.1
        """
        name = type(self).__name__
        if not isinstance(state, dict) or state.get("type") != name:
            got = state.get("type") if isinstance(state, dict) else state
            raise ValueError(f"{name}.load_state_dict: the state is for {got!r}")
        scalars, buffers = state.get("scalars", {}), state.get("buffers", {})
        if "steps" not in scalars:
            raise ValueError(f"{name}.load_state_dict: missing scalar 'steps'")
        self._load_groups(state)
        self._match_buffers(buffers)
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
        if problems:
            raise ValueError(f"{name}.load_state_dict: " + "; ".join(problems))
        self.steps = int(scalars["steps"])
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

    def _match_buffers(self, buffers: dict[str, Any]) -> None:
        """Before the buffers are checked: subclasses whose buffers come and go make theirs
        match the state's."""

    def __repr__(self) -> str:
        groups = len(self.param_groups)
        return (
            f"{type(self).__name__}({len(self.params)} parameters in {groups} "
            f"group{'s' * (groups != 1)}, lr={[g['lr'] for g in self.param_groups]})"
        )


def fused(p: np.ndarray, g: Any, *buffers: np.ndarray) -> _blas.Routines | None:
    """BLAS's one-pass axpy/axpby for this update, or None where the arrays do not fit them
    (another dtype, not contiguous, a gradient of another dtype) or NumPy has no OpenBLAS."""
    blas = _blas.routines(p.dtype)
    if blas is None or not _blas.fits(p.dtype, p, g, *buffers):
        return None
    return blas


def check(name: str, value: Any, lo: float, hi: float | None = None) -> float:
    """``value`` as a float in ``[lo, hi)`` (or ``>= lo``), else a ValueError naming it."""
    if not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < lo or (hi is not None and value >= hi):
        rng = f"[{lo}, {hi})" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {rng}, got {value}")
    return value
