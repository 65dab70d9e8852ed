"""Minibatches: ``DataLoader`` yields (X, y) batches in a reproducible, resumable order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule import creation


class DataLoader:
    """Minibatches of ``(X[idx], y[idx])``, shuffled each epoch in an order fixed by ``seed``.

    Epoch ``e``'s order is a permutation drawn from ``(seed, e)`` alone, so a run is reproducible
    and ``state_dict()`` (seed, epoch, position within the epoch) is all it takes to resume,
    even in the middle of an epoch. Each ``iter()`` runs the rest of the current epoch, then
    advances to the next. ``seed=None`` takes one, once (kept in the state), from
    ``chainrule.manual_seed``'s stream if it was called, else from the OS.

    >>> X, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> loader = DataLoader(X, y, batch_size=2, shuffle=False)
    >>> [yb.tolist() for _, yb in loader], len(loader)
    ([[0, 1], [2, 3], [4]], 3)
    >>> shuffled = DataLoader(X, y, batch_size=2, seed=0)
    >>> first = [yb.tolist() for _, yb in shuffled]
    >>> again = DataLoader(X, y, batch_size=2, seed=0)
    >>> first == [yb.tolist() for _, yb in again]
    True

    ``shard=(rank, world_size)`` serves rank ``rank`` its part of every batch (``np.array_split``
    of the batch's indices into ``world_size`` pieces): the ranks' parts of a batch are disjoint
    and together they are exactly the single-process batch, so ``batch_size`` stays the global
    batch and ``len()`` and the state are the same on every rank.

    >>> halves = [DataLoader(X, y, batch_size=3, shuffle=False, shard=(r, 2)) for r in (0, 1)]
    >>> [[yb.tolist() for _, yb in h] for h in halves]
    [[[0, 1], [3]], [[2], [4]]]
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        batch_size: int = 64,
        shuffle: bool = True,
        seed: int | None = None,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> None:
        X, y = np.asarray(X), np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"DataLoader: X has {len(X)} rows but y has {len(y)}")
        if len(X) == 0:
            raise ValueError("DataLoader: the dataset is empty")
        if not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if drop_last and batch_size > len(X):
            raise ValueError(
                f"DataLoader: drop_last with batch_size {batch_size} > {len(X)} samples "
                "leaves no batch"
            )
        if shard is not None:
            ok = isinstance(shard, tuple) and len(shard) == 2
            ok = ok and all(isinstance(v, int | np.integer) for v in shard)
            if not ok or not 0 <= shard[0] < shard[1]:
                raise ValueError(
                    f"DataLoader: shard must be (rank, world_size) with 0 <= rank < world_size, "
                    f"got {shard!r}"
                )
            if shard[1] > batch_size:
                raise ValueError(
                    f"DataLoader: batch_size {batch_size} is smaller than the {shard[1]} ranks "
                    "sharing it: every rank needs at least one sample of each batch"
                )
            tail = len(X) % batch_size
            if not drop_last and 0 < tail < shard[1]:
                raise ValueError(
                    f"DataLoader: the last batch has {tail} samples for {shard[1]} ranks: "
                    "every rank needs at least one sample of each batch (pass drop_last=True)"
                )
        self.shard = None if shard is None else (int(shard[0]), int(shard[1]))
        self.X, self.y = X, y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = creation.loader_seed() if seed is None else int(seed)
        self.epoch = 0  # the epoch the next batch belongs to
        self.position = 0  # batches of that epoch already yielded

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.X)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        """Samples per epoch (fewer than len(X) when drop_last drops a partial batch)."""
        return len(self) * self.batch_size if self.drop_last else len(self.X)

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of ``epoch`` in the order they are served."""
        if not self.shuffle:
            return np.arange(len(self.X))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.X))

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch, idx, bs = self.epoch, self.order(self.epoch), self.batch_size
        while self.epoch == epoch:
            start = self.position * bs
            batch = idx[start : start + bs]
            if self.shard is not None:  # this rank's piece, as np.array_split cuts it
                rank, world = self.shard
                q, r = divmod(len(batch), world)
                lo = rank * q + min(rank, r)
                hi = lo + q + (rank < r)
                batch = batch[lo:hi]
                start, bs = start + lo, hi - lo
            # advance before yielding, so the state always names the next batch to serve, even
            # when the caller abandons this iterator after the last batch
            self.position += 1
            if self.position == len(self):
                self.epoch, self.position = epoch + 1, 0
            if self.shuffle:
                yield self.X[batch], self.y[batch]  # a gather: a fresh copy per batch
            else:
                yield self.X[start : start + bs], self.y[start : start + bs]  # views
            bs = self.batch_size

    def state_dict(self) -> dict[str, Any]:
        """Everything that fixes the remaining order: JSON-serializable.

        >>> loader = DataLoader(np.zeros((4, 1)), np.zeros(4), batch_size=2, seed=7)
        >>> _ = next(iter(loader))
        >>> loader.state_dict()
        {'seed': 7, 'epoch': 0, 'position': 1, 'batch_size': 2, 'num_samples': 4}
        """
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "position": self.position,
            "batch_size": self.batch_size,
            "num_samples": len(self.X),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a ``state_dict()``; the data and batch size must be the same."""
        if state["batch_size"] != self.batch_size or state["num_samples"] != len(self.X):
            raise ValueError(
                f"DataLoader.load_state_dict: state is for {state['num_samples']} samples in "
                f"batches of {state['batch_size']}, this loader has {len(self.X)} in batches "
                f"of {self.batch_size}"
            )
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
