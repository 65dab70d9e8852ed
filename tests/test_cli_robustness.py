"""Issue 15: bad input found by testing as a new user gives one clear line and exit 2."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli
from chainrule.train import checkpoint, runlock, schema
from test_cli import _one_line_error

TINY = ["train", "--data", "spiral", "--epochs", "1", "--hidden", "8", "--quiet", "--no-progress"]


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("good") / "run"
    assert cli.main([*TINY, "--out", str(run)]) == 0
    return run


def _copy(good_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    return run


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["train", "--seed", "-1"], r"argument --seed: expected an integer >= 0, got '-1'"),
        (["demo", "--seed", "-3"], r"argument --seed: expected an integer >= 0"),
        (["train", "--out", ""], r"argument --out: expected a directory path"),
        (["explain", "sum(x)", "x=[[1,2],[3]]"], r"the value of x is ragged"),
        (["explain", "x*2", "x=[]"], r"the value of x is empty"),
        (["explain", "exp(x)", "x=[1,2]"], r"array of shape \(2,\): explain a scalar"),
        (["explain", "x*y", "x=[[1,2],[3,4]]", "y=[1,2]"], r"shape \(2, 2\)"),
    ],
)
def test_bad_input_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], pattern: str
) -> None:
    _one_line_error(capsys, argv, pattern)


def test_out_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "taken"
    f.write_text("x")
    _one_line_error(capsys, ["train", "--out", str(f)], r"taken: is an existing file")
    _one_line_error(capsys, ["train", "--out", str(f / "sub")], r"taken is a file")


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EACCES, "permission denied: choose a directory you can write"),
    ],
)
def test_write_errors_name_the_path(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    hint: str,
) -> None:
    target = tmp_path / "run" / "preprocess.safetensors"

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(code, "boom", str(target))

    monkeypatch.setattr(cr, "save", fail)
    _one_line_error(
        capsys, [*TINY, "--out", str(tmp_path / "run")], f"cannot write {target}: {hint}"
    )


def test_explain_log_of_zero_warns_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    # pytest runs with warnings as errors: a NumPy RuntimeWarning would fail this
    assert cli.main(["explain", "log(x-x)", "x=1"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "-inf" in out


CONFIG_DAMAGE = [
    ("hidden", "abc", r'"hidden" must be a list of positive integers'),
    ("hidden", [200000, 200000], r"has 40001400003 parameters"),
    ("input_dim", None, r'missing "input_dim"'),
    ("activation", "swish", r'"activation" must be one of relu'),
    ("lr", "fast", r'"lr" must be a finite number'),
    ("batch_size", 0, r'"batch_size" must be a positive integer'),
    ("batchnorm", "yes", r'"batchnorm" must be true or false'),
    ("seed", -1, r'"seed" must be an integer >= 0'),
    ("data", "imagenet", r"unknown dataset"),
]


@pytest.mark.parametrize(("key", "value", "pattern"), CONFIG_DAMAGE)
def test_damaged_config_json(
    good_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    key: str,
    value: Any,
    pattern: str,
) -> None:
    run = _copy(good_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    if value is None:
        del config[key]
    else:
        config[key] = value
    (run / "config.json").write_text(json.dumps(config))
    where = str(run / "config.json")
    for argv in (["evaluate", str(run)], ["train", "--resume", str(run), "--quiet"]):
        _one_line_error(capsys, argv, pattern)
        # and the message names the file
        assert cli.main(argv) == 2 and where in capsys.readouterr().err


STATE_DAMAGE = [
    (lambda s: s.update(history=5), r'"history" must be a list'),
    (lambda s: s.update(generators=["x"]), r'"generators" must be a list of NumPy'),
    (lambda s: s.update(loader="x"), r'"loader" must be an object'),
    (lambda s: s["loader"].update(position=-1), r'loader: "position" must be an integer >= 0'),
    (lambda s: s.update(epoch="1"), r'"epoch" must be an integer'),
    (lambda s: s.pop("running"), r'missing "running"'),
    (lambda s: s.update(history=[]), r'"history" has 0 epochs, "epoch" says 1'),
    (lambda s: s["running"].update(penalty_sum="x"), r'running: "penalty_sum" must be a finite'),
    (lambda s: s.update(iteration_losses="x"), r'"iteration_losses" must be a list of numbers'),
]


@pytest.mark.parametrize(("damage", "pattern"), STATE_DAMAGE)
def test_damaged_state_json(
    good_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Any,
    pattern: str,
) -> None:
    run = _copy(good_run, tmp_path)
    path = run / "checkpoint" / "state.json"
    state = json.loads(path.read_text())
    damage(state)
    path.write_text(json.dumps(state))
    for argv in (["evaluate", str(run)], ["train", "--resume", str(run), "--epochs", "2"]):
        _one_line_error(capsys, argv, pattern)
        assert cli.main(argv) == 2 and str(path) in capsys.readouterr().err


OPTIMIZER_DAMAGE = [  # read by --resume alone (evaluate needs no optimizer)
    (lambda o: o["param_groups"][0].update(lr="fast"), r"param group 0 lr must be a number"),
    (lambda o: o.update(param_groups=[]), r"0 param groups, this optimizer 1"),
    (lambda o: o["param_groups"][0].update(params=[0]), r"group 0 of the state has 1 param"),
    (lambda o: o.update(type="SGD"), r"the state is for 'SGD'"),
]


@pytest.mark.parametrize(("damage", "pattern"), OPTIMIZER_DAMAGE)
def test_damaged_optimizer_state(
    good_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Any, pattern: str
) -> None:
    run = _copy(good_run, tmp_path)
    path = run / "checkpoint" / "state.json"
    state = json.loads(path.read_text())
    damage(state["optimizer"])
    path.write_text(json.dumps(state))
    _one_line_error(capsys, ["train", "--resume", str(run), "--epochs", "2"], pattern)
    assert cli.main(["train", "--resume", str(run), "--epochs", "2"]) == 2
    assert f'{path}: "optimizer": Adam.load_state_dict' in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("step,loss,l2_penalty\n1,0.5,x\n", r"steps.csv, line 2: expected step,loss,l2_penalty"),
        ("step,loss,l2_penalty\n2,0.5,0.0\n", r"steps.csv, line 2: step 2, expected 1"),
        ("{}", r"steps.csv: not a chainrule steps file"),
        (b"\xff\xfe", r"steps.csv: unreadable"),
    ],
)
def test_damaged_steps_csv(
    good_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: Any, pattern: str
) -> None:
    run = _copy(good_run, tmp_path)
    path = run / "steps.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    _one_line_error(capsys, ["train", "--resume", str(run), "--epochs", "2"], pattern)
    assert cli.main(["evaluate", str(run)]) == 0  # evaluate does not need it


@pytest.mark.parametrize("text", ["[1, 2]", "[" * 100_000])
def test_state_json_that_is_not_an_object(
    good_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    run = _copy(good_run, tmp_path)
    (run / "checkpoint" / "state.json").write_text(text)
    _one_line_error(capsys, ["evaluate", str(run)], r"state.json: (not a|unreadable)")


def test_good_files_pass_the_schema(good_run: Path) -> None:
    config = json.loads((good_run / "config.json").read_text())
    assert schema.check_config(config, "c") is config
    state = json.loads((good_run / "checkpoint" / "state.json").read_text())
    assert schema.check_state(state, "s") is state


# -- runs that can be lost ------------------------------------------------------------------------

DIVERGE = ["train", "--data", "spiral", "--optimizer", "sgd", "--lr", "100", "--epochs", "6"]


def test_divergence_stops_and_keeps_the_last_finite_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the reference: the same run trained on, and its first non-finite step loss
    on = tmp_path / "on"
    assert cli.main([*DIVERGE, "--quiet", "--keep-going", "--out", str(on)]) == 0
    rows = (on / "steps.csv").read_text().splitlines()[1:]  # step,loss,l2_penalty
    losses = [float(r.split(",")[1]) + float(r.split(",")[2]) for r in rows]
    first = next(i for i, v in enumerate(losses) if not math.isfinite(v))
    steps_per_epoch = math.ceil(210 / 32)  # spiral's 210 training samples, batches of 32
    epoch, step = first // steps_per_epoch + 1, first + 1
    assert epoch < 6  # it does diverge, within the run

    run = tmp_path / "stop"
    assert cli.main([*DIVERGE, "--quiet", "--out", str(run)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"at epoch {epoch}, step {step}: stopped" in err[0]
    assert f"the last finite checkpoint (epoch {epoch - 1}) is kept in {run}" in err[0]
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == epoch - 1
    weights = cr.load(run / "checkpoint" / "model.safetensors")
    assert all(np.isfinite(w).all() for w in weights.values())
    assert cli.main(["evaluate", str(run)]) == 0


def test_divergence_is_said_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*DIVERGE, "--out", str(tmp_path / "r")]) == 1
    out, err = capsys.readouterr()
    said = [line for line in (out + err).splitlines() if "the loss became" in line]
    assert len(said) == 1 and said[0].startswith("chainrule train: error: "), out + err


def test_divergence_in_the_first_epoch_saves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--data", "spiral", "--optimizer", "sgd", "--lr", "1e30", "--quiet"]
    assert cli.main([*argv, "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "at epoch 1, step 2: stopped; no checkpoint was saved" in err, err


def test_a_locked_run_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    held = runlock.acquire(run)
    try:
        _one_line_error(capsys, [*TINY, "--out", str(run)], rf"in use .*\(pid {os.getpid()}\)")
    finally:
        runlock.release(held)
    assert cli.main([*TINY, "--out", str(run)]) == 0  # released: it trains
    held = runlock.acquire(run)
    try:
        _one_line_error(capsys, ["train", "--resume", str(run)], r"in use by another chainrule")
    finally:
        runlock.release(held)


def test_two_trainers_at_once_one_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "chainrule", *TINY, "--epochs", "3", "--out", str(run)]
    procs = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    results = [(p.returncode, err) for p, err in zip(procs, errs, strict=True)]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    refused = next(err for rc, err in results if rc == 2)
    assert re.search(r"in use by another chainrule train \(pid \d+\)|already holds a run", refused)
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 3


def test_a_run_that_died_before_its_first_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    straight = tmp_path / "straight"
    assert cli.main([*TINY, "--epochs", "2", "--out", str(straight)]) == 0
    expected = (straight / "checkpoint" / "model.safetensors").read_bytes()
    for how in ("resume", "restart"):
        run = tmp_path / how
        shutil.copytree(straight, run)
        for name in ("checkpoint", "metrics.jsonl", "curves.png"):
            p = run / name
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        argv = (
            ["train", "--resume", str(run), "--quiet"]
            if how == "resume"
            else [*TINY, "--epochs", "2", "--out", str(run)]
        )
        assert cli.main(argv) == 0, capsys.readouterr().err
        assert (run / "checkpoint" / "model.safetensors").read_bytes() == expected
        # the dead run's steps are not kept: steps.csv is the new run's alone
        assert (run / "steps.csv").read_text() == (straight / "steps.csv").read_text()


def test_help_shows_each_real_default_once() -> None:
    parser = cli.build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    train = subs["train"].format_help()
    assert "default: None" not in train
    for option in ("--epochs", "--batch-size", "--seed", "--optimizer", "--reg", "--lr"):
        block = train.split("options:", 1)[1].split("\n  " + option, 1)[1].split("\n  --")[0]
        assert block.count("default") == 1, block
    evaluate = " ".join(subs["evaluate"].format_help().split())
    for form in ("digits", "spiral", "mnist:DIR", "cifar10:DIR"):
        assert form in evaluate.split("--data SPEC", 1)[1]
    assert "seed of the initial weights" in " ".join(subs["demo"].format_help().split())
    assert "decimals shown for every value" in " ".join(subs["explain"].format_help().split())


def _at_epoch(state: dict[str, Any], epoch: int) -> dict[str, Any]:
    return {**state, "epoch": epoch, "history": state["history"][:1] * epoch}


def _epoch_of(path: Path) -> int:
    return int(json.loads((path / "state.json").read_text())["epoch"])


@pytest.mark.parametrize("first", range(4))
@pytest.mark.parametrize("second", range(5))
def test_every_state_of_the_checkpoint_swap_is_recoverable(
    good_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: int, second: int
) -> None:
    """A kill at each rename/remove of a save, then another kill at each one of the next save:
    a complete checkpoint is always found, and the save after cleans up."""
    run = _copy(good_run, tmp_path)
    model, opt, state = checkpoint.load_checkpoint(run)
    budget = [0]  # renames/removes allowed before the kill; after it, nothing runs
    real_rename, real_rmtree = Path.rename, shutil.rmtree

    def killable(real: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if budget[0] <= 0:
                raise KeyboardInterrupt  # like SIGKILL: no cleanup handler runs either
            budget[0] -= 1
            return real(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(Path, "rename", killable(real_rename))
    monkeypatch.setattr(checkpoint.shutil, "rmtree", killable(real_rmtree))
    for epoch, allowed in ((2, first), (3, second)):
        budget[0] = allowed
        with contextlib.suppress(KeyboardInterrupt):
            checkpoint.save_checkpoint(run, model, opt, _at_epoch(state, epoch))
        budget[0] = 1_000_000
        found = checkpoint.find_checkpoint(run)
        assert found is not None and _epoch_of(found) in (1, 2, 3), sorted(os.listdir(run))
        assert cli.main(["evaluate", str(run)]) == 0
    checkpoint.save_checkpoint(run, model, opt, _at_epoch(state, 4))
    assert _epoch_of(run / "checkpoint") == 4
    names = sorted(p.name for p in run.iterdir())
    assert not [n for n in names if n.startswith(".checkpoint")], names


def test_only_old_and_a_complete_new_checkpoint(good_run: Path, tmp_path: Path) -> None:
    """The state a first crash leaves: the next save must not delete the only checkpoint, and
    evaluate and --resume find the complete one in .checkpoint-new-*."""
    run = _copy(good_run, tmp_path)
    (run / "checkpoint").rename(run / ".checkpoint-old")
    shutil.copytree(run / ".checkpoint-old", run / ".checkpoint-new-abc")
    (run / ".metrics.jsonl.xyz.tmp").write_text("partial")
    assert checkpoint.find_checkpoint(run) == run / ".checkpoint-new-abc"
    assert cli.main(["evaluate", str(run)]) == 0
    assert cli.main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0
    names = sorted(p.name for p in run.iterdir())
    assert "checkpoint" in names and not [n for n in names if n.startswith(".checkpoint")]
    assert ".metrics.jsonl.xyz.tmp" not in names
    assert _epoch_of(run / "checkpoint") == 2


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_run_files_respect_the_umask(
    tmp_path: Path, umask: int, file_mode: int, dir_mode: int
) -> None:
    old = os.umask(umask)
    try:
        run = tmp_path / "run"
        assert cli.main([*TINY, "--out", str(run)]) == 0
        svg = tmp_path / "f.svg"
        assert cli.main(["explain", "x*y", "x=1", "y=2", "--svg", str(svg)]) == 0
    finally:
        os.umask(old)
    paths = [run, svg, *run.rglob("*")]
    for p in paths:
        if p.name == runlock.LOCK:
            continue
        want = dir_mode if p.is_dir() else file_mode
        assert p.stat().st_mode & 0o777 == want, (p, oct(p.stat().st_mode))


def test_explain_uses_significant_digits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["explain", "x*y", "x=1e-7", "y=3"]) == 0
    out = capsys.readouterr().out
    assert "df/dy = 1.00e-07" in out and "df/dx = 3.00" in out  # 1e-7 is not 0.00
    svg = tmp_path / "big.svg"
    assert cli.main(["explain", "x*y", "x=1e308", "y=1e308", "--svg", str(svg)]) == 0
    out = capsys.readouterr().out
    assert "df/dx = 1.00e+308" in out
    assert not re.search(r"\d{12}", out + svg.read_text())  # no 309-digit numbers
    width = float(re.search(r'<svg[^>]* width="([\d.]+)"', svg.read_text()).group(1))  # type: ignore[union-attr]
    assert width < 1000


_READY = """
import os, signal, sys
import chainrule_entry
real = signal.signal
def spy(sig, handler):  # tell the test the moment the entry point handles SIGINT
    old = real(sig, handler)
    if handler is chainrule_entry._interrupted:
        os.write(1, b"R")
    return old
signal.signal = spy
sys.exit(chainrule_entry.main())
"""


@pytest.mark.parametrize("delay", [0.0, 0.001, 0.005, 0.02, 0.05, 0.1, 0.3])
def test_ctrl_c_at_any_early_moment_exits_130_in_one_line(tmp_path: Path, delay: float) -> None:
    # from the moment the console script's module runs (before chainrule, NumPy and the rest
    # are imported) through parsing, loading and training
    env = {**os.environ, "PYTHONPATH": str(Path(cr.__file__).parents[1])}
    argv = [
        "train",
        "--data",
        "spiral",
        "--epochs",
        "1000",
        "--out",
        str(tmp_path / "r"),
        "--quiet",
    ]
    p = subprocess.Popen(
        [sys.executable, "-c", _READY, *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert p.stdout is not None and p.stdout.read(1) == b"R"
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    text = err.decode()
    assert p.returncode == 130, text
    assert "Traceback" not in text and len(text.splitlines()) <= 1, text
