"""The training loop's data-parallel side: what ``Trainer`` does differently when
``chainrule.distributed.world_size() > 1`` (launched with ``mpiexec -n 4 chainrule train ...``).

Every rank trains its share of each global batch through ``DataParallel``; only rank 0 writes
checkpoints, metrics, curves and progress; epoch metrics and validation are summed over the
ranks; Ctrl-C on any rank stops every rank after the same step; BatchNorm's running statistics
are averaged before each checkpoint, so the saved model is the same on every rank. Everything
here is the identity at world size 1.

>>> from chainrule import nn
>>> model = nn.Linear(2, 2)
>>> wrap(model) is model      # world size 1
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import distributed as dist
from chainrule.data.loader import DataLoader
from chainrule.train import metrics


def active() -> bool:
    """True when training runs on more than one rank."""
    return dist.world_size() > 1


def wrap(model: Any) -> Any:
    """``DataParallel(model)`` on more than one rank (the model itself otherwise)."""
    if not active() or isinstance(model, dist.DataParallel):
        return model
    return dist.DataParallel(model)


def shard(loader: DataLoader) -> DataLoader:
    """The loader serving this rank's share of every batch (``batch_size`` stays global)."""
    return dist.shard(loader) if active() and loader.shard is None else loader


def stop_requested(model: Any, local: bool) -> bool:
    """Whether the loop stops after this step: on one rank, its own request; on several, a
    request from any rank, agreed in the forward pass (so all stop after the same step)."""
    if not active():
        return local
    if local:
        dist.request_stop()
    return bool(getattr(model, "stop_requested", False))


def reduce_running(run: dict[str, float]) -> dict[str, float]:
    """The epoch's running sums over all ranks (the time is rank 0's)."""
    if not active():
        return run
    sums = dist.all_reduce(np.array([run["loss_sum"], run["correct"], run["seen"]]), op="sum")
    return {**run, "loss_sum": float(sums[0]), "correct": int(sums[1]), "seen": int(sums[2])}


def evaluate(
    model: Any, x: np.ndarray, y: np.ndarray, loss_fn: Any, batch_size: int
) -> tuple[float, float]:
    """``metrics.evaluate`` with each rank scoring its slice of the data, summed over ranks,
    with the running statistics averaged (the saved model's), the ranks' own kept."""
    inner = dist.unwrap(model)
    if not active():
        return metrics.evaluate(inner, x, y, loss_fn, batch_size)
    idx = np.array_split(np.arange(len(y)), dist.world_size())[dist.rank()]
    n = len(idx)
    # scored with the running statistics averaged over the ranks: the model the checkpoint holds
    own = {k: b.copy() for k, b in inner.named_buffers() if b.dtype.kind == "f"}
    for k, b in inner.named_buffers():
        if k in own:
            dist.all_reduce(b, op="mean")
    try:
        loss, acc = metrics.evaluate(inner, x[idx], y[idx], loss_fn, batch_size) if n else (0, 0)
    finally:
        for k, b in inner.named_buffers():
            if k in own:
                np.copyto(b, own[k])
    sums = dist.all_reduce(np.array([loss * n, acc * n, n], dtype=np.float64), op="sum")
    return float(sums[0] / sums[2]), float(sums[1] / sums[2])


def model_state(model: Any) -> dict[str, np.ndarray]:
    """The model's state to save: on several ranks, with the floating-point buffers (BatchNorm's
    running statistics) averaged over the ranks, so every rank saves the same model. The
    ranks' own buffers are left as they are (``rank_buffers`` keeps them for an exact resume)."""
    state = dist.unwrap(model).state_dict()
    if active():
        for k, b in dist.unwrap(model).named_buffers():
            if b.dtype.kind == "f":
                state[k] = dist.all_reduce(np.array(b, copy=True), op="mean")
    return dict(state)


def rank_buffers(model: Any) -> list[dict[str, list[Any]]] | None:
    """Every rank's own buffers (as lists, for the JSON state), on several ranks."""
    if not active():
        return None
    mine = {k: b.tolist() for k, b in dist.unwrap(model).named_buffers()}
    return list(dist._world["comm"].allgather(mine))  # small, at checkpoints only


def load_rank_buffers(model: Any, saved: list[dict[str, list[Any]]] | None) -> None:
    """Restore this rank's own buffers from ``rank_buffers``'s result."""
    if not active() or saved is None:
        return
    if len(saved) != dist.world_size():
        raise ValueError(
            f"the checkpoint is from a {len(saved)}-rank run, this one has "
            f"{dist.world_size()} ranks: resume with the same number"
        )
    for k, b in dist.unwrap(model).named_buffers():
        np.copyto(b, np.array(saved[dist.rank()][k], dtype=b.dtype))


def generator_states(states: list[Any]) -> list[Any]:
    """This rank's generator states, or every rank's (a list per rank) on several."""
    if not active():
        return states
    return list(dist._world["comm"].allgather(states))  # small JSON-able dicts, at checkpoints


def my_generator_states(saved: list[Any], count: int) -> list[Any]:
    """This rank's part of ``generator_states``'s result, as saved in a checkpoint."""
    if not active():
        return saved
    if len(saved) != dist.world_size() or not all(isinstance(s, list) for s in saved):
        raise ValueError(
            f"the checkpoint's random generators are not from a {dist.world_size()}-rank run: "
            "resume with the same number of ranks"
        )
    mine = saved[dist.rank()]
    if len(mine) != count:
        raise ValueError(f"the checkpoint has {len(mine)} generators for this rank, not {count}")
    return list(mine)
