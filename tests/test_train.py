"""The training loop: learning, exact resume, reproducibility, Ctrl-C, files, metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule import nn, optim, train
from chainrule.data import DataLoader, spiral
from chainrule.train import checkpoint

X, Y = spiral(40, 3)
TIMING = ("time_s", "samples_per_s")  # wall-clock fields: the only ones that may differ


def _make(name: str, seed: int = 0) -> tuple[Any, Any, Any]:
    """A net with every source of randomness (init, dropout) and state (batchnorm buffers)."""
    net = nn.MLP([2, 24, 24, 3], dropout=0.2, batchnorm=True, rng=np.random.default_rng(seed))
    params = list(net.parameters())
    opt = {
        "sgd": lambda: optim.SGD(params, lr=0.1),
        "momentum": lambda: optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True),
        "rmsprop": lambda: optim.RMSprop(params, lr=1e-3),
        "adam": lambda: optim.Adam(params, lr=1e-2),
        "adamw": lambda: optim.AdamW(params, lr=1e-2),
        # weights and biases in groups of their own, as in PyTorch
        "sgd-groups": lambda: optim.SGD(
            [
                {"params": params[::2], "nesterov": True},
                {"params": params[1::2], "lr": 0.02, "momentum": 0.5, "weight_decay": 0.0},
            ],
            lr=0.05,
            momentum=0.9,
            weight_decay=1e-3,
        ),
        "adam-groups": lambda: optim.Adam(
            [{"params": params[::2]}, {"params": params[1::2], "lr": 3e-3, "betas": (0.8, 0.99)}],
            lr=1e-2,
        ),
    }[name]()
    return net, opt, optim.StepLR(opt, step_size=2, gamma=0.5)


def _fit(net: Any, opt: Any, sched: Any, out: Path | None, **kw: Any) -> train.Trainer:
    return train.fit(
        net, opt, (X, Y), (X, Y), epochs=5, batch_size=25, reg=1e-3, scheduler=sched,
        out_dir=out, verbose=False, progress=False, **kw,
    )  # fmt: skip


def _strip(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in h.items() if k not in TIMING} for h in history]


def _assert_same_weights(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype
        assert np.array_equal(a[k], b[k]), f"{k} differs by {np.abs(a[k] - b[k]).max()}"


def test_learns_the_spiral() -> None:
    net = nn.MLP([2, 64, 3], rng=np.random.default_rng(0))
    run = train.fit(net, optim.Adam(net.parameters(), lr=0.02), (X, Y), (X, Y), epochs=40,
                    batch_size=20, verbose=False, progress=False)  # fmt: skip
    assert len(run.history) == 40 and run.step == 40 * 6
    assert run.history[-1]["train_loss"] < 0.5 * run.history[0]["train_loss"]
    assert train.evaluate(net, X, Y)[1] > 0.9  # a linear classifier gets about 0.5


@pytest.mark.parametrize(
    "name", ["sgd", "momentum", "rmsprop", "adam", "adamw", "sgd-groups", "adam-groups"]
)
@pytest.mark.parametrize("stop_at", [3, 15])  # in the first epoch; the last step of the third
def test_exact_resume(tmp_path: Path, name: str, stop_at: int) -> None:
    straight_net, opt, sched = _make(name)
    straight = _fit(straight_net, opt, sched, None)

    def interrupt(trainer: train.Trainer) -> None:
        if trainer.step == stop_at:
            raise KeyboardInterrupt  # as Ctrl-C would, right after a step

    net, opt, sched = _make(name)
    stopped = _fit(net, opt, sched, tmp_path / "run", callbacks=[interrupt])
    assert stopped.interrupted and stopped.step == stop_at
    assert len(stopped.history) == stop_at // 5  # 5 batches of 25 in an epoch of 120

    # a fresh process would build the model from scratch: different init, different generators
    net, opt, sched = _make(name, seed=99)
    nn.init.seed(12345)
    resumed = _fit(net, opt, sched, tmp_path / "run", resume=True)
    assert not resumed.interrupted and resumed.step == straight.step
    _assert_same_weights(net.state_dict(), straight_net.state_dict())
    assert _strip(resumed.history) == _strip(straight.history)
    assert resumed.iteration_losses == straight.iteration_losses
    # what is on disk is the final state too
    saved, _, state = checkpoint.load_checkpoint(tmp_path / "run")
    _assert_same_weights(saved, straight_net.state_dict())
    assert state["epoch"] == 5


def test_seed_reproduces_and_differs(tmp_path: Path) -> None:
    runs = []
    for seed in (0, 0, 1):
        net, opt, _ = _make("adam", seed=seed)
        train.fit(net, opt, (X, Y), epochs=2, batch_size=25, seed=seed, verbose=False,
                  progress=False)  # fmt: skip
        runs.append(net.state_dict())
    _assert_same_weights(runs[0], runs[1])
    assert not np.array_equal(runs[0]["0.weight"], runs[2]["0.weight"])


def test_run_directory_files(tmp_path: Path) -> None:
    net, opt, sched = _make("sgd")
    run = _fit(net, opt, sched, tmp_path)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5]
    assert records == run.history
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "samples_per_s"} <= set(
        records[0]
    )
    assert [r["lr"] for r in records] == [0.1, 0.1, 0.05, 0.05, 0.025]  # StepLR after epochs
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ckpt = tmp_path / "checkpoint"
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "model.safetensors",
        "optimizer.safetensors",
        "state.json",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_checkpoint_swap_survives_a_crash_between_renames(tmp_path: Path) -> None:
    """If a crash leaves only .checkpoint-old (the old one moved aside), it is still found."""
    net, opt, sched = _make("adam")
    _fit(net, opt, sched, tmp_path)
    (tmp_path / "checkpoint").rename(tmp_path / ".checkpoint-old")
    assert train.find_checkpoint(tmp_path) == tmp_path / ".checkpoint-old"
    model_state, _, _ = checkpoint.load_checkpoint(tmp_path)
    _assert_same_weights(model_state, net.state_dict())


def test_load_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoint.load_checkpoint(tmp_path)
    net, opt, sched = _make("adam")
    _fit(net, opt, sched, tmp_path)
    (tmp_path / "checkpoint" / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable checkpoint state"):
        checkpoint.load_checkpoint(tmp_path)


def test_split_and_join_state_round_trip() -> None:
    state = {
        "type": "X",
        "scalars": {"lr": 0.1, "betas": [0.9, 0.999], "steps": 3},
        "buffers": {"0.m": np.arange(3.0, dtype=np.float32)},
        "t": (1, 2),
        "bykey": {0: np.float32(1.5), 1: None},
    }
    skeleton, arrays = checkpoint.split_state(state)
    back = checkpoint.join_state(json.loads(json.dumps(skeleton)), arrays)
    assert back["scalars"] == state["scalars"] and back["t"] == (1, 2)
    assert back["bykey"][0] == np.float32(1.5) and back["bykey"][1] is None
    np.testing.assert_array_equal(back["buffers"]["0.m"], state["buffers"]["0.m"])
    with pytest.raises(TypeError, match="cannot store a set"):
        checkpoint.split_state({"bad": {1, 2}})


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    checkpoint.atomic_write_bytes(path, b"old")

    with pytest.raises(TypeError):
        checkpoint.atomic_write_bytes(path, object())  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]


def test_trainer_argument_errors() -> None:
    net, opt, _ = _make("sgd")
    loader = DataLoader(X, Y, batch_size=10)
    with pytest.raises(ValueError, match="epochs"):
        train.Trainer(net, opt, loader, epochs=0)
    with pytest.raises(ValueError, match="reg"):
        train.Trainer(net, opt, loader, epochs=1, reg=-1.0)
    with pytest.raises(ValueError, match="out_dir"):
        train.fit(net, opt, (X, Y), epochs=1, resume=True)


def test_confusion_matrix_and_evaluate() -> None:
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    cm = train.confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert cm.sum() == 6 and np.trace(cm) == 4
    net = nn.MLP([2, 8, 3], rng=np.random.default_rng(0))
    loss, acc = train.evaluate(net, X, Y, batch_size=7)  # batches that do not divide N
    scores = train.predict_scores(net, X)
    assert acc == np.mean(scores.argmax(1) == Y)
    shifted = scores - scores.max(1, keepdims=True)
    expected = -np.mean(shifted[np.arange(len(Y)), Y] - np.log(np.exp(shifted).sum(1)))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert net.training  # evaluate restores training mode


_SIGINT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from chainrule import nn, optim, train
    from chainrule.data import spiral

    X, y = spiral(200, 3)
    net = nn.MLP([2, 64, 3], rng=np.random.default_rng(0))

    def slow(trainer):
        if trainer.step == 3:
            print("ready", flush=True)
        time.sleep(0.01)

    run = train.fit(net, optim.SGD(net.parameters(), lr=0.1), (X, y), epochs=1000,
                    batch_size=10, out_dir=sys.argv[1], callbacks=[slow], progress=False)
    print("interrupted" if run.interrupted else "finished", run.step, flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_saves_a_checkpoint_and_exits_cleanly(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(_SIGINT_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    last = out.strip().splitlines()[-1].split()
    assert last[0] == "interrupted"
    _, _, state = checkpoint.load_checkpoint(tmp_path / "run")
    assert state["step"] == int(last[1]) >= 3
    assert state["epoch"] < 1000


def test_no_out_dir_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    net, opt, sched = _make("sgd")
    _fit(net, opt, sched, None)
    assert os.listdir(tmp_path) == []


def test_fit_again_continues_for_more_epochs() -> None:
    net, opt, _ = _make("momentum")
    loader = DataLoader(X, Y, batch_size=25, seed=0)
    trainer = train.Trainer(net, opt, loader, epochs=2, verbose=False, progress=False)
    trainer.fit()
    assert [h["epoch"] for h in trainer.fit(trainer.epoch + 2)] == [1, 2, 3, 4]
    assert trainer.step == 4 * 5 and loader.epoch == 4
    with pytest.raises(ValueError, match="epochs"):
        trainer.fit(0)


@pytest.mark.parametrize("tune", [True, False])
def test_fit_runs_inside_tuned_blas_unless_told_not_to(
    tune: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    from chainrule.nn import perf

    entered: list[bool] = []

    @contextlib.contextmanager
    def recording(thread_timeout: int = 20) -> Any:
        entered.append(True)
        yield True

    monkeypatch.setattr(perf, "tuned_blas", recording)
    net = nn.MLP([2, 8, 3], rng=np.random.default_rng(0))
    train.fit(net, optim.SGD(net.parameters(), lr=0.1), (X, Y), epochs=2, batch_size=40,
              verbose=False, progress=False, tune_blas=tune)  # fmt: skip
    assert entered == ([True] if tune else [])
