"""Checkpoints: atomic files, and state split into arrays (safetensors) and the rest (JSON).

A checkpoint is a directory ``checkpoint/`` in the run directory holding

- ``model.safetensors``: the model's ``state_dict()`` (weights and buffers), via ``chainrule.save``;
- ``optimizer.safetensors``: every array in the optimizer's ``state_dict()`` (moments, velocities);
- ``state.json``: everything else: the optimizer's scalars and param groups, the epoch, the data
  loader's position, the random generators, the metrics of each epoch so far (each step's
  losses are in the run's ``steps.csv``, ``train.steps``).

The directory is written whole under a temporary name and swapped in by renames, so a crash at any
moment leaves either the old checkpoint or the new one, never a mix; ``find_checkpoint`` finds
whichever is complete, and the next save (``recover_checkpoint``) puts it back in place and
removes the leftovers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import serialization
from chainrule.train import schema

CHECKPOINT = "checkpoint"
_OLD = ".checkpoint-old"
_NEW = ".checkpoint-new-"
_RUN_FILES = ("config.json", "metrics.jsonl", "curves.png", "preprocess.safetensors", "steps.csv")
FORMAT = "chainrule-checkpoint/1"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory + os.replace.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> atomic_write_bytes(p, b"hello"); p.read_bytes()
    b'hello'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, serialization.umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """``obj`` as indented JSON, written atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


def split_state(state: Any, prefix: str = "") -> tuple[Any, dict[str, np.ndarray]]:
    """Replace each array (and NumPy scalar) in a nested dict/list by ``{"__array__": key}``.

    Returns the JSON-able skeleton and the arrays by key, for ``join_state`` to put back.

    >>> skeleton, arrays = split_state({"lr": 0.1, "state": {0: {"v": np.zeros(2)}}})
    >>> skeleton
    {'lr': 0.1, 'state': {'__intdict__': {'0': {'v': {'__array__': 'state.0.v'}}}}}
    >>> arrays
    {'state.0.v': array([0., 0.])}
    >>> join_state(skeleton, arrays)
    {'lr': 0.1, 'state': {0: {'v': array([0., 0.])}}}
    """
    arrays: dict[str, np.ndarray] = {}

    def walk(obj: Any, key: str) -> Any:
        if isinstance(obj, np.ndarray | np.generic):
            arrays[key] = np.ascontiguousarray(obj)
            return (
                {"__array__": key, "__scalar__": True}
                if isinstance(obj, np.generic)
                else {"__array__": key}
            )
        if isinstance(obj, dict):
            out = {str(k): walk(v, f"{key}.{k}" if key else str(k)) for k, v in obj.items()}
            int_keys = [str(k) for k in obj if isinstance(k, int)]
            if int_keys and len(int_keys) == len(obj):
                # remember that the keys were ints (JSON has only string keys)
                return {"__intdict__": out}
            return out
        if isinstance(obj, list | tuple):
            items = [walk(v, f"{key}.{i}") for i, v in enumerate(obj)]
            return items if isinstance(obj, list) else {"__tuple__": items}
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} at {key!r}")

    return walk(state, prefix), arrays


def join_state(skeleton: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The inverse of ``split_state``."""
    if isinstance(skeleton, dict):
        if "__array__" in skeleton:
            arr = arrays[skeleton["__array__"]]
            return arr[()] if skeleton.get("__scalar__") else arr
        if "__intdict__" in skeleton:
            return {int(k): join_state(v, arrays) for k, v in skeleton["__intdict__"].items()}
        if "__tuple__" in skeleton:
            return tuple(join_state(v, arrays) for v in skeleton["__tuple__"])
        return {k: join_state(v, arrays) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [join_state(v, arrays) for v in skeleton]
    return skeleton


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    model_state: dict[str, np.ndarray],
    optimizer_state: Any,
    state: dict[str, Any],
) -> Path:
    """Write ``run_dir/checkpoint/`` whole, then swap it in; returns its path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    skeleton, opt_arrays = split_state(optimizer_state)
    tmp = Path(tempfile.mkdtemp(prefix=_NEW, dir=run_dir))
    tmp.chmod(serialization.umask_mode(directory=True))
    try:
        serialization.save(model_state, tmp / "model.safetensors")
        serialization.save(opt_arrays, tmp / "optimizer.safetensors")
        atomic_write_json(tmp / "state.json", {"format": FORMAT, **state, "optimizer": skeleton})
        final, old = run_dir / CHECKPOINT, run_dir / _OLD
        recover_checkpoint(run_dir, keep=tmp)  # a complete checkpoint/ if there is any
        if final.exists():
            if old.exists():
                shutil.rmtree(old)  # checkpoint/ is complete: old is a leftover
            final.rename(old)  # from here until the next rename, find_checkpoint reads old
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _complete_new(run_dir: Path, skip: Path | None = None) -> list[Path]:
    """The complete ``.checkpoint-new-*`` directories (``state.json`` is written last), newest
    first."""
    found = [p for p in run_dir.glob(_NEW + "*") if p != skip and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: (p / "state.json").stat().st_mtime_ns, reverse=True)


def find_checkpoint(run_dir: str | os.PathLike[str], _skip: Path | None = None) -> Path | None:
    """The checkpoint directory of a run; if a swap was cut short, the complete one it left
    (the new one fully written, or the previous one moved aside).

    >>> import tempfile, pathlib
    >>> find_checkpoint(tempfile.mkdtemp()) is None
    True
    """
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT / "state.json").is_file():
        return run_dir / CHECKPOINT
    new = _complete_new(run_dir, _skip)
    if new:
        return new[0]
    if (run_dir / _OLD / "state.json").is_file():
        return run_dir / _OLD
    return None


def recover_checkpoint(run_dir: str | os.PathLike[str], keep: Path | None = None) -> Path | None:
    """Finish a swap a crash cut short: put the complete checkpoint ``find_checkpoint`` finds
    back in place as ``checkpoint/``, then remove the leftovers (partial or older
    ``.checkpoint-new-*`` directories, ``.checkpoint-old``, temporary files) except ``keep``.
    Returns the checkpoint, or None when there is none.

    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> (run / ".checkpoint-new-x").mkdir()
    >>> _ = (run / ".checkpoint-new-x" / "state.json").write_text("{}")
    >>> recover_checkpoint(run).name, sorted(p.name for p in run.iterdir())
    ('checkpoint', ['checkpoint'])
    """
    run_dir = Path(run_dir)
    found = find_checkpoint(run_dir, keep)
    final = run_dir / CHECKPOINT
    if found is not None and found != final:
        found.rename(final)
        found = final
    if found is None:
        return None
    for p in run_dir.glob(_NEW + "*"):
        if p != keep:
            shutil.rmtree(p, ignore_errors=True)
    shutil.rmtree(run_dir / _OLD, ignore_errors=True)
    for name in _RUN_FILES:  # atomic_write_bytes's temporary files, from a killed writer
        for p in run_dir.glob(f".{name}.*.tmp"):
            p.unlink(missing_ok=True)
    return found


def read_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint directory's ``state.json``, checked against its schema (``train.schema``)."""
    file = Path(path) / "state.json"
    try:
        state = json.loads(file.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise ValueError(f"{file}: unreadable checkpoint state ({e})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{file}: not a {FORMAT} checkpoint")
    return schema.check_state(state, str(file))


def load_checkpoint(
    run_dir: str | os.PathLike[str],
) -> tuple[dict[str, np.ndarray], Any, dict[str, Any]]:
    """``(model_state, optimizer_state, state)`` saved by ``save_checkpoint`` in ``run_dir``."""
    path = recover_checkpoint(run_dir)
    if path is None:
        raise FileNotFoundError(f"{run_dir}: no checkpoint (expected {CHECKPOINT}/state.json)")
    state = read_state(path)
    model_state = serialization.load(path / "model.safetensors")
    optimizer_state = join_state(
        state.pop("optimizer"), serialization.load(path / "optimizer.safetensors")
    )
    return model_state, optimizer_state, state
