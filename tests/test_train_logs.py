"""What a run logs: the data loss and the L2 penalty apart (issue 15), and each step's losses
in the append-only steps.csv instead of state.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule import nn, optim, train
from chainrule.data import spiral
from chainrule.train import steps

X, Y = spiral(40, 3)
REG = 0.05


def _net(seed: int = 0) -> Any:
    return nn.MLP([2, 16, 3], rng=np.random.default_rng(seed))


def _adam(seed: int = 0, lr: float = 0.01) -> tuple[Any, Any]:
    net = _net(seed)
    return net, optim.Adam(net.parameters(), lr=lr)


def _fit(net: Any, opt: Any, out: Path | None = None, **kw: Any) -> train.Trainer:
    kw = {"epochs": 3, "batch_size": 25, **kw}
    return train.fit(net, opt, (X, Y), (X, Y), reg=REG, out_dir=out,
                     verbose=False, progress=False, **kw)  # fmt: skip


def test_train_loss_is_the_data_loss_and_the_penalty_is_logged_apart() -> None:
    # lr 0: the weights stay put, so the epoch's train loss must equal evaluate's loss on the
    # same samples, and the penalty reg * sum(W^2) over the weight matrices, by hand
    net = _net()
    run = _fit(net, optim.SGD(net.parameters(), lr=0.0), epochs=1)
    record = run.history[0]
    loss, _ = train.evaluate(net, X, Y)
    assert record["train_loss"] == pytest.approx(loss, rel=1e-6)
    by_hand = REG * sum(float(np.sum(p.data.astype(np.float64) ** 2)) for p in
                        net.parameters() if p.ndim == 2)  # fmt: skip
    assert record["l2_penalty"] == pytest.approx(by_hand, rel=1e-5)
    assert run.iteration_penalties == pytest.approx([by_hand] * run.step, rel=1e-5)
    assert np.mean(run.iteration_losses) == pytest.approx(loss, rel=0.05)  # batches differ a bit


def test_the_epoch_means_are_weighted_by_the_batch_sizes() -> None:
    # 120 samples in batches of 25: four of 25 and one of 20; data loss + penalty is the
    # epoch's mean objective, as logged before the two were apart
    net, opt = _adam()
    run = _fit(net, opt, epochs=2)
    sizes = [25, 25, 25, 25, 20] * 2
    for e, h in enumerate(run.history):
        idx = range(5 * e, 5 * e + 5)
        loss = sum(run.iteration_losses[i] * sizes[i] for i in idx) / 120
        pen = sum(run.iteration_penalties[i] * sizes[i] for i in idx) / 120
        assert h["train_loss"] == pytest.approx(loss, rel=1e-12)
        assert h["l2_penalty"] == pytest.approx(pen, rel=1e-12)
    assert len(set(run.iteration_penalties)) > 1  # the weights move: a changing penalty


def test_the_summary_line_and_metrics_show_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = _net()
    run = train.fit(net, optim.Adam(net.parameters(), lr=0.01), (X, Y), (X, Y), epochs=2,
                    batch_size=25, reg=REG, out_dir=tmp_path, progress=False)  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    h = run.history[1]
    assert f"train loss {h['train_loss']:.4f} + L2 {h['l2_penalty']:.4f} acc" in out[1]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[1]["l2_penalty"] == h["l2_penalty"] > 0
    # without reg the line is as before
    train.fit(*_adam(), (X, Y), epochs=1, batch_size=25,
              progress=False)  # fmt: skip
    assert " + L2 " not in capsys.readouterr().out


def _rows(run_dir: Path) -> list[list[str]]:
    """steps.csv read independently of train.steps."""
    lines = (run_dir / "steps.csv").read_text().splitlines()
    assert lines[0] == "step,loss,l2_penalty"
    return [line.split(",") for line in lines[1:]]


def test_each_steps_losses_go_to_steps_csv_not_state_json(tmp_path: Path) -> None:
    net = _net()
    run = _fit(net, optim.Adam(net.parameters(), lr=0.01), tmp_path, epochs=4)
    rows = _rows(tmp_path)
    assert [int(r[0]) for r in rows] == list(range(1, run.step + 1))
    assert [float(r[1]) for r in rows] == run.iteration_losses  # exact: repr round-trips
    assert [float(r[2]) for r in rows] == run.iteration_penalties
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert "iteration_losses" not in state
    # state.json holds per-epoch data only: the same size whatever the steps per epoch
    small = _fit(*_adam(), tmp_path / "b", epochs=4,
                 batch_size=5)  # fmt: skip
    assert small.step > 4 * run.step
    size = (tmp_path / "b" / "checkpoint" / "state.json").stat().st_size
    assert size < 1.2 * (tmp_path / "checkpoint" / "state.json").stat().st_size


def test_resume_cuts_steps_csv_back_to_the_checkpoint(tmp_path: Path) -> None:
    straight = _fit(*_adam(), tmp_path / "straight")

    def stop(trainer: train.Trainer) -> None:
        if trainer.step == 7:
            raise KeyboardInterrupt

    run = tmp_path / "run"
    net = _net()
    _fit(net, optim.Adam(net.parameters(), lr=0.01), run, callbacks=[stop])
    assert len(_rows(run)) == 7
    # a crash after the append and before the checkpoint: rows the checkpoint has not seen
    with (run / "steps.csv").open("a") as f:
        f.write("8,0.5,0.1\n9,0.5,0.1\n10,0.")
    net = _net(seed=5)
    resumed = _fit(net, optim.Adam(net.parameters(), lr=0.01), run, resume=True)
    assert resumed.iteration_losses == straight.iteration_losses
    assert _rows(run) == _rows(tmp_path / "straight")  # no step lost, none twice


@pytest.mark.parametrize("damage", ["8,0.5", "", "drop"])
def test_a_write_cut_short_is_mended_at_the_next_save(tmp_path: Path, damage: str) -> None:
    straight = _fit(*_adam(), tmp_path / "straight")

    def stop(trainer: train.Trainer) -> None:
        if trainer.step == 7:
            raise KeyboardInterrupt

    trainer = _fit(*_adam(), tmp_path / "run", callbacks=[stop])
    assert trainer.interrupted and trainer.step == 7
    path = tmp_path / "run" / "steps.csv"
    text = path.read_text()
    if damage == "drop":  # the last line lost
        path.write_text(text[: text.rstrip("\n").rindex("\n") + 1])
    else:  # a line cut short by a full disk, or a stray newline
        path.write_text(text + damage + ("" if damage else "\n"))
    trainer.fit()  # goes on from step 7 in the same process
    assert _rows(tmp_path / "run") == _rows(tmp_path / "straight")
    assert trainer.iteration_losses == straight.iteration_losses


def test_a_run_saved_before_steps_csv_still_loads(tmp_path: Path) -> None:
    straight = _fit(*_adam())

    def stop(trainer: train.Trainer) -> None:
        if trainer.step == 7:
            raise KeyboardInterrupt

    net = _net()
    stopped = _fit(net, optim.Adam(net.parameters(), lr=0.01), tmp_path, callbacks=[stop])
    # make it the old format: every step's loss in state.json, no steps.csv
    path = tmp_path / "checkpoint" / "state.json"
    state = json.loads(path.read_text())
    state["iteration_losses"] = stopped.iteration_losses
    state["running"] = {k: state["running"][k] for k in ("loss_sum", "correct", "seen", "time_s")}
    state["running"]["loss_sum"] = stopped._running["loss_sum"]
    path.write_text(json.dumps(state))
    (tmp_path / "steps.csv").unlink()
    net = _net()
    resumed = _fit(net, optim.Adam(net.parameters(), lr=0.01), tmp_path, resume=True)
    assert resumed.iteration_losses == straight.iteration_losses
    assert [float(r[1]) for r in _rows(tmp_path)] == straight.iteration_losses
    assert resumed.history[-1]["train_loss"] == straight.history[-1]["train_loss"]


def test_a_damaged_steps_csv_is_one_clear_error(tmp_path: Path) -> None:
    steps.append(tmp_path, [(1, 1.0, 0.0), (2, 0.5, 0.0)], start=True)
    with (tmp_path / "steps.csv").open("a") as f:
        f.write("three,x,y\n")
    with pytest.raises(ValueError, match=r"steps.csv, line 4: expected step,loss,l2_penalty"):
        steps.read(tmp_path)
    (tmp_path / "steps.csv").write_text("step,loss,l2_penalty\n1,1.0,0.0\n3,1.0,0.0\n")
    with pytest.raises(ValueError, match="line 3: step 3, expected 2"):
        steps.read(tmp_path)
    (tmp_path / "steps.csv").write_text("something else\n")
    with pytest.raises(ValueError, match="not a chainrule steps file"):
        steps.read(tmp_path)


def test_the_logged_lr_is_each_groups_where_they_differ() -> None:
    net = _net()
    ps = list(net.parameters())
    opt = optim.SGD([{"params": ps[::2]}, {"params": ps[1::2], "lr": 0.05}], lr=0.1)
    run = _fit(net, opt, epochs=2, scheduler=optim.StepLR(opt, step_size=1, gamma=0.5))
    assert [h["lr"] for h in run.history] == [[0.1, 0.05], [0.05, 0.025]]
    same = optim.SGD([{"params": ps[::2]}, {"params": ps[1::2]}], lr=0.1)
    assert _fit(net, same, epochs=1).history[0]["lr"] == 0.1
