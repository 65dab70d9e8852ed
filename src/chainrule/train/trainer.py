"""The training loop: minibatch SGD-style training with validation, logs, curves, checkpoints.

``Trainer`` owns one run. Each epoch it trains on every minibatch of a ``DataLoader``, evaluates
on the validation split, appends a line to ``metrics.jsonl``, and writes a checkpoint. A run
resumed from its checkpoint ends bitwise where the uninterrupted run would: the checkpoint holds
the weights, the optimizer's buffers, the data loader's position within the epoch, the state of
every random generator the model draws from, and the running sums of the epoch's metrics.

Ctrl-C (SIGINT) asks the loop to stop after the current step; it then saves a checkpoint and
returns with ``trainer.interrupted`` set. A second Ctrl-C aborts at once.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import _tensor
from chainrule.data.loader import DataLoader
from chainrule.nn import functional, init, perf
from chainrule.train import checkpoint, curves, parallel, steps

Callback = Callable[["Trainer"], None]
_PLOT_EVERY_S = 30.0  # redraw the curves at most this often during a run (and always at the end)


def _generators(model: Any) -> list[np.random.Generator]:
    """Every random generator the model draws from: its modules' ``rng`` and nn's global one."""
    found: list[np.random.Generator] = []
    modules = model.modules() if hasattr(model, "modules") else [model]
    for m in modules:
        rng = getattr(m, "rng", None)
        if isinstance(rng, np.random.Generator) and all(rng is not g for g in found):
            found.append(rng)
    g = init.get_rng()
    if all(g is not f for f in found):
        found.append(g)
    return found


class Trainer:
    """Train ``model`` with ``optimizer`` on a ``DataLoader`` for ``epochs`` epochs.

    The loss is ``loss_fn(scores, y)`` (softmax cross-entropy by default) plus
    ``nn.functional.l2_penalty(model, reg)`` when ``reg`` > 0; the two are logged apart: the
    "train loss" is the data loss alone (the one ``evaluate`` and the validation loss report),
    ``l2_penalty`` the epoch's mean penalty. ``val_data`` is an ``(X, y)`` pair evaluated
    after each epoch. With ``out_dir`` the run writes ``metrics.jsonl``, ``curves.png``,
    ``steps.csv`` (each step's losses, ``train.steps``) and ``checkpoint/`` there.
    ``progress`` shows a tqdm bar per epoch (default: when stderr is a terminal); ``verbose``
    prints one summary line per epoch. Each callback is called as
    ``callback(trainer)`` after every optimizer step; raising ``KeyboardInterrupt`` in one stops the
    run like Ctrl-C does. ``scheduler`` (e.g. ``optim.StepLR``) is stepped after each epoch.
    With ``stop_on_nonfinite`` (the default) the first nan or inf loss stops the run before
    that step's update, saves nothing (the last checkpoint, of finite weights, stays) and sets
    ``trainer.diverged`` to its epoch, step and loss; with ``verbose`` and
    ``report_divergence`` it prints one line saying so (``chainrule train`` turns that off and
    prints its own, as an error).
    ``fit`` runs inside ``nn.tuned_blas()`` unless ``tune_blas`` is False: NumPy's OpenBLAS
    threads stop spinning soon after each matrix product while it trains (measured here: a
    784-512-512-10 step took 3.3 ms instead of 5.7 ms while the host was busy), and get
    OpenBLAS's default spin back after.

    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> from chainrule.data import DataLoader, spiral
    >>> X, y = spiral(50, 3)
    >>> net = nn.MLP([2, 32, 3], rng=np.random.default_rng(0))
    >>> trainer = Trainer(net, optim.Adam(net.parameters(), lr=0.02),
    ...                   DataLoader(X, y, batch_size=30, seed=0), (X, y), epochs=20, verbose=False)
    >>> history = trainer.fit()
    >>> len(history), history[-1]["val_acc"] > 0.8
    (20, True)
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        train_loader: DataLoader,
        val_data: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        epochs: int,
        loss_fn: Callable[[Any, Any], Any] | None = None,
        reg: float = 0.0,
        scheduler: Any = None,
        out_dir: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        verbose: bool = True,
        callbacks: Sequence[Callback] = (),
        eval_batch_size: int = 1024,
        tune_blas: bool = True,
        stop_on_nonfinite: bool = True,
        report_divergence: bool = True,
    ) -> None:
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"Trainer: epochs must be a positive int, got {epochs!r}")
        if reg < 0 or not math.isfinite(reg):
            raise ValueError(f"Trainer: reg must be a finite number >= 0, got {reg}")
        # on several MPI ranks: DataParallel, a sharded loader, rank 0 alone reports (parallel.py)
        model = parallel.wrap(model)
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.loader = parallel.shard(train_loader)
        progress = progress and parallel.dist.is_main() if progress is not None else None
        verbose = verbose and parallel.dist.is_main()
        self.val_data = val_data
        self.epochs = epochs
        self.loss_fn = functional.cross_entropy if loss_fn is None else loss_fn
        self.reg = float(reg)
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.progress = (
            sys.stderr.isatty() and parallel.dist.is_main() if progress is None else progress
        )
        self.verbose = verbose
        self.callbacks = list(callbacks)
        self.eval_batch_size = eval_batch_size
        self.tune_blas = tune_blas
        self.history: list[dict[str, Any]] = []  # one record per completed epoch
        self.iteration_losses: list[float] = []  # every step's data loss, for the curves
        self.iteration_penalties: list[float] = []  # every step's L2 penalty (0 without reg)
        self._steps_saved: int | None = None  # steps in out_dir's steps.csv; None: rewrite it
        self.step = 0  # optimizer steps taken
        self.last_loss = float("nan")  # the last step's data loss
        self.interrupted = False
        self.stop_on_nonfinite = stop_on_nonfinite
        self.report_divergence = report_divergence
        # {"epoch", "step", "loss"} of the first nan/inf loss, when that stopped the run
        self.diverged: dict[str, Any] | None = None
        self._running = _new_running()
        self._stop = False
        self._last_plot = 0.0

    # -- the loop ---------------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return len(self.history)

    def fit(self, epochs: int | None = None) -> list[dict[str, Any]]:
        """Train until ``epochs`` epochs (default: the trainer's) are complete, or Ctrl-C;
        returns the history. A later ``fit(trainer.epoch + 5)`` trains 5 epochs more."""
        if epochs is not None:
            if not isinstance(epochs, int) or epochs < 1:
                raise ValueError(f"Trainer.fit: epochs must be a positive int, got {epochs!r}")
            self.epochs = epochs
        self.interrupted, self._stop, self.diverged = False, False, None
        if self.out_dir is not None and parallel.dist.is_main():
            self.out_dir.mkdir(parents=True, exist_ok=True)
        spin = perf.tuned_blas() if self.tune_blas else contextlib.nullcontext()
        # a diverging run overflows: its nan/inf losses are reported (or stop it), not warned
        with (
            self._sigint_stops(),
            spin,
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        ):
            while self.epoch < self.epochs and not self._stop:
                if self.loader.epoch == self.epoch:  # a resumed run may have finished the batches
                    self._train_epoch()
                if self._stop and self.loader.epoch == self.epoch:
                    break  # stopped mid-epoch: the checkpoint keeps the position
                self._end_epoch()
        if self.diverged is not None:
            d = self.diverged
            if self.report_divergence:
                kept = self.out_dir is not None and checkpoint.find_checkpoint(self.out_dir)
                self._log(
                    f"stopped: the loss became {d['loss']} at epoch {d['epoch']}, step "
                    f"{d['step']}; "
                    + ("the last finite checkpoint is kept" if kept else "nothing saved")
                )
        elif self._stop:
            self.interrupted = True
            self._log("interrupted: " + self._saved_where())
            self._save()
        elif self.out_dir is not None and parallel.dist.is_main():
            self._plot(force=True)
        return self.history

    def _train_epoch(self) -> None:
        from tqdm.auto import tqdm

        model, opt, loss_fn, reg = self.model, self.optimizer, self.loss_fn, self.reg
        run = self._running
        bar = tqdm(
            total=len(self.loader),
            initial=self.loader.position,
            desc=f"epoch {self.epoch + 1}/{self.epochs}",
            unit="batch",
            disable=not self.progress,
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        model.train()
        t0, seen0 = time.perf_counter(), run["seen"]
        try:
            for xb, yb in self.loader:
                scores = model(_tensor.Tensor._wrap(xb))  # the batch as is: no copy
                loss = data_loss = loss_fn(scores, yb)
                penalty = 0.0
                if reg > 0:
                    l2 = functional.l2_penalty(parallel.dist.unwrap(model), reg)
                    loss = data_loss + l2
                    penalty = float(l2.data)
                if self.stop_on_nonfinite and _nonfinite(float(loss.data)):
                    # stop before this step's update: the model keeps its last finite weights
                    self.diverged = {
                        "epoch": self.epoch + 1,
                        "step": self.step + 1,
                        "loss": float(loss.data),
                    }
                    self._stop = True
                    break
                opt.zero_grad()
                loss.backward()
                opt.step()
                self.step += 1
                loss_value = float(data_loss.data)
                self.last_loss = loss_value
                self.iteration_losses.append(loss_value)
                self.iteration_penalties.append(penalty)
                run["loss_sum"] += loss_value * len(yb)
                # weighted like the data loss, so the two add up to the objective's mean; the
                # penalty is the same on every rank (one model), so rank 0's own sums (not
                # reduced over the ranks) give it
                run["penalty_sum"] += penalty * len(yb)
                run["penalty_seen"] += len(yb)
                run["correct"] += int(np.count_nonzero(scores.data.argmax(axis=1) == yb))
                run["seen"] += len(yb)
                if self.progress and (bar.n % 10 == 0 or self.loader.position == 0):
                    l2 = f" + L2 {run['penalty_sum'] / run['penalty_seen']:.4f}" if reg else ""
                    bar.set_postfix_str(
                        f"loss {run['loss_sum'] / run['seen']:.4f}{l2}  "
                        f"acc {run['correct'] / run['seen']:.2%}  "
                        f"{(run['seen'] - seen0) / max(time.perf_counter() - t0, 1e-9):,.0f} "
                        "samples/s",
                        refresh=False,
                    )
                bar.update()
                self._call_callbacks()
                self._stop = parallel.stop_requested(model, self._stop)
                if self._stop:
                    break
        finally:
            run["time_s"] += time.perf_counter() - t0
            bar.close()

    def _call_callbacks(self) -> None:
        for cb in self.callbacks:
            try:
                cb(self)
            except KeyboardInterrupt:
                self._stop = True  # a step is complete: a consistent point to checkpoint

    def _end_epoch(self) -> None:
        run = parallel.reduce_running(self._running)
        record: dict[str, Any] = {
            "epoch": self.epoch + 1,
            "step": self.step,
            "train_loss": run["loss_sum"] / max(run["seen"], 1),  # the data loss
            "l2_penalty": run.get("penalty_sum", 0.0) / max(run.get("penalty_seen", 0), 1),
            "train_acc": run["correct"] / max(run["seen"], 1),
            "val_loss": None,
            "val_acc": None,
            "lr": _lr(self.optimizer),
            "time_s": round(run["time_s"], 3),
            "samples_per_s": round(run["seen"] / max(run["time_s"], 1e-9), 1),
        }
        if self.val_data is not None and len(self.val_data[1]):
            vl, va = parallel.evaluate(
                self.model, *self.val_data, self.loss_fn, self.eval_batch_size
            )
            record["val_loss"], record["val_acc"] = vl, va
        self.history.append(record)
        self._running = _new_running()
        if self.scheduler is not None:
            self.scheduler.step()
        self._log(_summary(record, self.epochs))
        self._save()

    # -- Ctrl-C -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _sigint_stops(self) -> Iterator[None]:
        """While training, the first SIGINT asks for a stop at the next step boundary."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set from the main thread
            return

        def handler(signum: int, frame: Any) -> None:
            if parallel.active():
                parallel.dist.request_stop()  # every rank stops after the same step
            else:
                self._stop = True
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C aborts
            self._log("\nstopping after this step (Ctrl-C again to abort without saving)")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # -- files ------------------------------------------------------------------------------------

    def _log(self, line: str) -> None:
        if self.verbose:
            from tqdm.auto import tqdm

            tqdm.write(line, file=sys.stdout)
            sys.stdout.flush()

    def _saved_where(self) -> str:
        if self.out_dir is None:
            return "no out_dir, nothing saved"
        return f"checkpoint saved in {self.out_dir / checkpoint.CHECKPOINT}"

    def _save(self) -> None:
        """Checkpoint, metrics log and (at most every 30 s) the curves, when there is out_dir."""
        if self.out_dir is None:
            return
        # on every rank (collectives): the ranks' generators and buffers, the averaged model
        state, model_state = self.state_dict(), parallel.model_state(self.model)
        if not parallel.dist.is_main():
            return
        self._save_steps()  # first: steps.csv holds every step the checkpoint has seen
        checkpoint.save_checkpoint(
            self.out_dir,
            model_state,
            _optimizer_state(self.optimizer),
            state,
        )
        lines = "".join(json.dumps(h) + "\n" for h in self.history)
        checkpoint.atomic_write_bytes(self.out_dir / "metrics.jsonl", lines.encode())
        self._plot(force=self._stop)

    def _save_steps(self) -> None:
        assert self.out_dir is not None
        self._steps_saved = steps.save(
            self.out_dir, self.iteration_losses, self.iteration_penalties, self._steps_saved
        )

    def _plot(self, force: bool) -> None:
        if self.out_dir is None or not (
            force or time.monotonic() - self._last_plot > _PLOT_EVERY_S
        ):
            return
        curves.plot_curves(self.history, self.iteration_losses, self.out_dir / "curves.png")
        self._last_plot = time.monotonic()

    def state_dict(self) -> dict[str, Any]:
        """The loop's state (JSON-serializable): epoch, step, loader, generators, metrics."""
        return {
            "epoch": self.epoch,
            "epochs": self.epochs,
            "step": self.step,
            "loader": self.loader.state_dict(),
            "generators": parallel.generator_states(
                [g.bit_generator.state for g in _generators(self.model)]
            ),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "running": parallel.reduce_running(dict(self._running)),
            "rank_buffers": parallel.rank_buffers(self.model),
            "history": self.history,  # per epoch; each step's losses are in steps.csv
        }

    def load_checkpoint(self, run_dir: str | os.PathLike[str] | None = None) -> None:
        """Restore model, optimizer, loader, generators and metrics from a run's checkpoint.

        ``run_dir`` defaults to ``out_dir``. The model and optimizer must be built as in the
        original run (same architecture, same optimizer class); their values are replaced.
        """
        run_dir = self.out_dir if run_dir is None else Path(run_dir)
        if run_dir is None:
            raise ValueError("Trainer.load_checkpoint: give run_dir (the trainer has no out_dir)")
        model_state, optimizer_state, state = checkpoint.load_checkpoint(run_dir)
        self.model.load_state_dict(model_state)
        parallel.load_rank_buffers(self.model, state.get("rank_buffers"))
        try:
            _load_optimizer_state(self.optimizer, optimizer_state)
        except ValueError as e:  # a damaged or foreign state: say which file holds it
            where = Path(run_dir) / checkpoint.CHECKPOINT / "state.json"
            raise ValueError(f'{where}: "optimizer": {e}') from None
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.loader.load_state_dict(state["loader"])
        gens = _generators(self.model)
        if parallel.active():
            state["generators"] = parallel.my_generator_states(state["generators"], len(gens))
        if len(gens) != len(state["generators"]):
            raise ValueError(
                f"{run_dir}: the checkpoint has {len(state['generators'])} random generators, "
                f"this model draws from {len(gens)}: is it built as in the original run?"
            )
        for g, s in zip(gens, state["generators"], strict=True):
            g.bit_generator.state = s
        self.step = int(state["step"])
        self.history = list(state["history"])
        self._load_steps(run_dir, state)
        self._running = {**_new_running(), **state["running"]}
        if not parallel.dist.is_main():  # rank 0 carries the saved sums of all ranks
            self._running.update(loss_sum=0.0, correct=0, seen=0)

    def _load_steps(self, run_dir: Path, state: dict[str, Any]) -> None:
        """Each step's losses up to the checkpoint's step: from ``steps.csv``, cut back to that
        step (a crash after its append may have left later ones), or from ``state.json`` in a
        run saved before steps.csv."""
        if not parallel.dist.is_main():  # rank 0 alone writes (and reads) the per-step file
            rows: list[steps.Row] = []
        elif "iteration_losses" in state:  # saved before steps.csv: written whole at next save
            rows = [(i + 1, v, 0.0) for i, v in enumerate(state["iteration_losses"][: self.step])]
        else:
            rows = steps.truncate(run_dir, self.step)
        nan = float("nan")
        rows += [(i + 1, nan, nan) for i in range(len(rows), self.step)]  # lost: unknown
        self.iteration_losses = [loss for _, loss, _ in rows]
        self.iteration_penalties = [pen for _, _, pen in rows]
        # the file in out_dir holds these rows now, unless they came from elsewhere
        same = "iteration_losses" not in state and run_dir == self.out_dir
        self._steps_saved = len(rows) if same and parallel.dist.is_main() else None


def _new_running() -> dict[str, Any]:
    """An epoch's running sums, at their start."""
    return {
        "loss_sum": 0.0,
        "correct": 0,
        "seen": 0,
        "time_s": 0.0,
        "penalty_sum": 0.0,
        "penalty_seen": 0,
    }


def _nonfinite(loss: float) -> bool:
    """Whether this step's loss is nan or inf (on any rank, on several: all stop together)."""
    bad = not math.isfinite(loss)
    if parallel.active():
        bad = bool(parallel.dist.all_reduce(np.array([float(bad)]), op="sum")[0])
    return bad


def _optimizer_state(optimizer: Any) -> dict[str, Any]:
    """The optimizer's state for a checkpoint (exact: see ``Optimizer.state_dict``)."""
    return dict(optimizer.state_dict())


def _load_optimizer_state(optimizer: Any, state: dict[str, Any]) -> None:
    optimizer.load_state_dict(state)


def _lr(optimizer: Any) -> float | list[float] | None:
    """The lr to log: the one every param group shares, else each group's."""
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        lrs = [float(g["lr"]) for g in groups]
        return lrs[0] if all(x == lrs[0] for x in lrs) else lrs
    lr = getattr(optimizer, "lr", None)
    return None if lr is None else float(lr)


def _summary(record: dict[str, Any], epochs: int) -> str:
    width = len(str(epochs))
    parts = [
        f"epoch {record['epoch']:>{width}}/{epochs}",
        f"train loss {record['train_loss']:.4f}"
        + (f" + L2 {record['l2_penalty']:.4f}" if record.get("l2_penalty") else "")
        + f" acc {record['train_acc']:6.2%}",
    ]
    if record["val_loss"] is not None:
        parts.append(f"val loss {record['val_loss']:.4f} acc {record['val_acc']:6.2%}")
    parts.append(f"{record['samples_per_s']:>9,.0f} samples/s")
    return "  ".join(parts)


def fit(
    model: Any,
    optimizer: Any,
    train_data: DataLoader | tuple[np.ndarray, np.ndarray],
    val_data: tuple[np.ndarray, np.ndarray] | None = None,
    epochs: int = 10,
    *,
    batch_size: int = 64,
    seed: int | None = 0,
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    **options: Any,
) -> Trainer:
    """Train ``model`` and return the ``Trainer`` (its ``history`` holds the metrics per epoch).

    ``train_data`` is a ``DataLoader`` or an ``(X, y)`` pair, batched by ``batch_size`` in an
    order fixed by ``seed``. With ``resume=True`` the run continues from the checkpoint in
    ``out_dir`` (if there is one). Other options go to ``Trainer`` (``reg``, ``scheduler``,
    ``loss_fn``, ``progress``, ``verbose``, ``callbacks``).

    For a reproducible run, fix the initial weights and dropout masks too: build the model with
    ``rng=np.random.default_rng(seed)`` or call ``nn.init.seed(seed)`` first.

    >>> import numpy as np
    >>> from chainrule import nn, optim
    >>> from chainrule.data import spiral
    >>> X, y = spiral(50, 3)
    >>> net = nn.MLP([2, 32, 3], rng=np.random.default_rng(0))
    >>> run = fit(net, optim.Adam(net.parameters(), lr=0.02), (X, y), (X, y), epochs=20,
    ...           batch_size=30, verbose=False)
    >>> run.history[-1]["val_acc"] > 0.8
    True
    """
    loader = (
        train_data
        if isinstance(train_data, DataLoader)
        else DataLoader(*train_data, batch_size=batch_size, shuffle=True, seed=seed)
    )
    trainer = Trainer(model, optimizer, loader, val_data, epochs=epochs, out_dir=out_dir, **options)
    if resume:
        if out_dir is None:
            raise ValueError("fit: resume=True needs the out_dir of the run to resume")
        if checkpoint.find_checkpoint(out_dir) is not None:
            trainer.load_checkpoint()
    trainer.fit()
    return trainer
