"""The schemas of a run directory's ``config.json`` and its checkpoint's ``state.json``.

A damaged or hand-edited file of well-formed JSON can still hold the wrong types or values
(``"hidden": "abc"``, ``"batch_size": 0``, ``"history": 5``). ``check_config`` and
``check_state`` read such a file's whole schema and raise ``SchemaError`` naming the file, the
key and what was expected, before anything is built from it (a model too large to allocate is
refused from its sizes alone).

>>> try:
...     check_config({"data": "spiral", "hidden": "abc"}, "run/config.json")
... except SchemaError as e:
...     print(e)
run/config.json: "hidden" must be a list of positive integers, got 'abc'
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

MAX_PARAMETERS = 2**27  # 134M parameters, 512 MiB of float32: refuse larger configs outright
ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid", "maxout")
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine")


class SchemaError(ValueError):
    """A run file whose JSON is well formed but whose contents are not of its schema."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _pos_int(v: Any) -> bool:
    return _is_int(v) and v >= 1


def _nonneg_int(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _nonneg_number(v: Any) -> bool:
    return _is_number(v) and v >= 0


def _check(
    obj: Mapping[str, Any], path: str, key: str, ok: Callable[[Any], bool], expected: str
) -> Any:
    if key not in obj:
        raise SchemaError(f'{path}: missing "{key}" (expected {expected})')
    value = obj[key]
    if not ok(value):
        raise SchemaError(f'{path}: "{key}" must be {expected}, got {_short(value)}')
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_config(config: Any, path: str) -> dict[str, Any]:
    """Check a run's ``config.json`` (already parsed) against its schema; returns it.

    >>> cfg = {"format": "chainrule-run/1", "data": "spiral", "hidden": [100], "activation":
    ...        "relu", "dropout": 0.0, "batchnorm": False, "optimizer": "adam", "lr": 1e-3,
    ...        "reg": 1e-4, "schedule": "none", "epochs": 20, "batch_size": 32, "seed": 0,
    ...        "input_dim": 2, "num_classes": 3}
    >>> check_config(cfg, "config.json") is cfg
    True
    >>> try:
    ...     check_config({**cfg, "hidden": [200000, 200000]}, "config.json")
    ... except SchemaError as e:
    ...     print(e)  # doctest: +NORMALIZE_WHITESPACE
    config.json: the model 2-200000-200000-3 has 40001400003 parameters,
    more than 134217728: is "hidden" damaged?
    """
    if not isinstance(config, dict):
        raise SchemaError(f"{path}: expected a JSON object, got {type(config).__name__}")
    c = config
    _check(c, path, "data", lambda v: isinstance(v, str) and v != "", "a dataset spec")
    _check(
        c,
        path,
        "hidden",
        lambda v: isinstance(v, list) and len(v) > 0 and all(_pos_int(h) for h in v),
        "a list of positive integers",
    )
    _check(c, path, "activation", lambda v: v in ACTIVATIONS, "one of " + ", ".join(ACTIVATIONS))
    _check(
        c,
        path,
        "dropout",
        lambda v: _nonneg_number(v) and v < 1,
        "a probability in [0, 1)",
    )
    _check(c, path, "batchnorm", lambda v: isinstance(v, bool), "true or false")
    _check(c, path, "optimizer", lambda v: v in OPTIMIZERS, "one of " + ", ".join(OPTIMIZERS))
    _check(c, path, "lr", _nonneg_number, "a finite number >= 0")
    _check(c, path, "reg", _nonneg_number, "a finite number >= 0")
    _check(c, path, "schedule", lambda v: v in SCHEDULES, "one of " + ", ".join(SCHEDULES))
    _check(c, path, "epochs", _pos_int, "a positive integer")
    _check(c, path, "batch_size", _pos_int, "a positive integer")
    _check(c, path, "seed", _nonneg_int, "an integer >= 0")
    _check(c, path, "input_dim", _pos_int, "a positive integer")
    _check(c, path, "num_classes", _pos_int, "a positive integer")
    sizes = [c["input_dim"], *c["hidden"], c["num_classes"]]
    count = sum(a * b + b for a, b in itertools.pairwise(sizes))
    if count > MAX_PARAMETERS:
        raise SchemaError(
            f"{path}: the model {'-'.join(map(str, sizes))} has {count} parameters, more than "
            f'{MAX_PARAMETERS}: is "hidden" damaged?'
        )
    return config


def _generator(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("bit_generator"), str) and "state" in v


def check_state(state: Any, path: str) -> dict[str, Any]:
    """Check a checkpoint's ``state.json`` (already parsed) against its schema; returns it.

    >>> try:
    ...     check_state({"epoch": 1, "epochs": 2, "step": 3, "loader": "x"}, "state.json")
    ... except SchemaError as e:
    ...     print(e)
    state.json: "loader" must be an object, got 'x'
    """
    if not isinstance(state, dict):
        raise SchemaError(f"{path}: expected a JSON object, got {type(state).__name__}")
    s = state
    _check(s, path, "epoch", _nonneg_int, "an integer >= 0")
    _check(s, path, "epochs", _pos_int, "a positive integer")
    _check(s, path, "step", _nonneg_int, "an integer >= 0")
    loader = _check(s, path, "loader", lambda v: isinstance(v, dict), "an object")
    for key in ("epoch", "position"):
        _check(loader, f"{path} loader", key, _nonneg_int, "an integer >= 0")
    for key in ("batch_size", "num_samples"):
        _check(loader, f"{path} loader", key, _pos_int, "a positive integer")
    _check(loader, f"{path} loader", "seed", lambda v: v is None or _nonneg_int(v), "an int")
    _check(
        s,
        path,
        "generators",
        lambda v: (
            isinstance(v, list)
            and all(
                _generator(g) or (isinstance(g, list) and all(_generator(h) for h in g)) for g in v
            )
        ),
        "a list of NumPy bit-generator states",
    )
    _check(s, path, "scheduler", lambda v: v is None or isinstance(v, dict), "null or an object")
    running = _check(s, path, "running", lambda v: isinstance(v, dict), "an object")
    for key in ("loss_sum", "time_s"):
        _check(running, f"{path} running", key, _is_number, "a finite number")
    for key in ("correct", "seen"):
        _check(running, f"{path} running", key, _nonneg_int, "an integer >= 0")
    if "penalty_sum" in running:  # (runs saved before the penalty was logged apart lack them)
        _check(running, f"{path} running", "penalty_sum", _is_number, "a finite number")
    if "penalty_seen" in running:
        _check(running, f"{path} running", "penalty_seen", _nonneg_int, "an integer >= 0")
    _check(
        s,
        path,
        "history",
        lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v),
        "a list of per-epoch records",
    )
    if len(s["history"]) != s["epoch"]:
        raise SchemaError(
            f'{path}: "history" has {len(s["history"])} epochs, "epoch" says {s["epoch"]}'
        )
    if "iteration_losses" in s:  # each step's loss, in runs saved before steps.csv
        _check(
            s,
            path,
            "iteration_losses",
            lambda v: isinstance(v, list) and all(_is_int(x) or isinstance(x, float) for x in v),
            "a list of numbers",
        )
    _check(s, path, "optimizer", lambda v: isinstance(v, dict), "an object")
    return state
