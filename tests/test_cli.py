"""The chainrule command: train/evaluate/resume end to end, the demo, and one-line errors."""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainrule import cli

sys.path.insert(0, str(Path(__file__).parent / "data"))
from formats import cifar_binary, write_mnist


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chainrule", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], pattern: str) -> None:
    """main(argv) exits 2 with exactly one line on stderr that matches pattern."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert re.search(pattern, err), err


def test_train_evaluate_resume_on_spiral_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    common = ["--data", "spiral", "--hidden", "32", "--lr", "0.05", "--batch-size", "50"]
    done = _run("train", *common, "--epochs", "8", "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0].startswith("spiral: 210 train / 30 val / 60 test samples of 2 features")
    assert sum(line.startswith("epoch ") for line in lines) == 8
    acc = float(re.search(r"test accuracy ([\d.]+)%", lines[-1]).group(1))  # type: ignore[union-attr]
    assert acc > 60  # 3 classes: chance is 33%
    config = json.loads((out / "config.json").read_text())
    assert config["hidden"] == [32] and config["lr"] == 0.05 and config["input_dim"] == 2
    for name in ("curves.png", "metrics.jsonl", "preprocess.safetensors", "checkpoint"):
        assert (out / name).exists(), name
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 8

    ev = _run("evaluate", str(out))
    assert ev.returncode == 0, ev.stderr
    assert f"accuracy {acc:.2f}%" in ev.stdout
    table = ev.stdout.splitlines()[-3:]  # one row per class
    counts = [[int(v) for v in row.split()[1:]] for row in table]
    assert np.array(counts).sum() == 60 and np.trace(np.array(counts)) == round(acc * 0.6)

    more = _run("train", "--resume", str(out), "--epochs", "10", "--no-progress")
    assert more.returncode == 0, more.stderr
    assert "resuming" in more.stdout and "epoch  9/10" in more.stdout
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 10


def test_the_default_spiral_run_learns_the_spiral(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the digits' defaults (20 epochs, Adam at 1e-3) ended at 58% on the spiral's 210 samples
    out = tmp_path / "run"
    assert cli.main(["train", "--data", "spiral", "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["epochs"], config["lr"], config["optimizer"]) == (100, 0.01, "adam")
    capsys.readouterr()
    assert cli.main(["evaluate", str(out), "--split", "train"]) == 0
    acc = float(re.search(r"accuracy ([\d.]+)%", capsys.readouterr().out).group(1))  # type: ignore[union-attr]
    assert acc >= 95
    # given options win over the dataset's defaults; other datasets keep the general ones
    assert cli.train_defaults({"data": "spiral", "epochs": 3, "lr": 0.2})["epochs"] == 3
    assert cli.train_defaults({"data": "spiral", "optimizer": "sgd"})["lr"] == 0.5
    assert cli.train_defaults({"data": "digits"})["epochs"] == 20
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "spiral: 100" in help_text and "spiral: sgd 0.5" in " ".join(help_text.split())


def test_resumed_cli_run_matches_a_straight_one(tmp_path: Path) -> None:
    common = ["train", "--data", "spiral", "--epochs", "4", "--quiet", "--dropout", "0.1"]
    assert cli.main([*common, "--out", str(tmp_path / "a")]) == 0
    assert cli.main([*common[:3], "--epochs", "2", "--quiet", "--dropout", "0.1",
                     "--out", str(tmp_path / "b")]) == 0  # fmt: skip
    assert cli.main(["train", "--resume", str(tmp_path / "b"), "--epochs", "4", "--quiet"]) == 0
    from chainrule.train import checkpoint

    a = checkpoint.load_checkpoint(tmp_path / "a")[0]
    b = checkpoint.load_checkpoint(tmp_path / "b")[0]
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_checkpoints_and_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainrule", "train", "--data", "spiral", "--epochs", "100000",
         "--out", str(out), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out / "checkpoint" / "state.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"resume with: chainrule train --resume {out}" in stdout
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert 1 <= state["epoch"] < 100000


def test_mnist_and_cifar10_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for kind, n in (("train", 50), ("test", 10)):
        y = rng.integers(0, 10, n)
        X = (rng.integers(0, 50, (n, 28, 28)) + 20 * y[:, None, None]).astype(np.uint8)
        write_mnist(mnist, kind, X, y, gz=kind == "train")
    argv = ["train", "--data", f"mnist:{mnist}", "--epochs", "2", "--out", str(tmp_path / "m")]
    assert cli.main(argv) == 0
    assert "784 features, 10 classes" in capsys.readouterr().out
    assert cli.main(["evaluate", str(tmp_path / "m")]) == 0
    assert "on mnist:" in capsys.readouterr().out

    cifar = tmp_path / "cifar"
    cifar.mkdir()
    for name, n in [*((f"data_batch_{i}", 10) for i in range(1, 6)), ("test_batch", 5)]:
        X = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        cifar.joinpath(name + ".bin").write_bytes(cifar_binary(X, rng.integers(0, 10, n)))
    argv = ["train", "--data", f"cifar10:{cifar}", "--epochs", "1", "--out", str(tmp_path / "c")]
    assert cli.main(argv) == 0
    assert "45 train / 5 val / 5 test samples of 3072 features" in capsys.readouterr().out
    # a model trained on CIFAR-10 cannot evaluate MNIST images
    _one_line_error(
        capsys, ["evaluate", str(tmp_path / "c"), "--data", f"mnist:{mnist}"], "784 features"
    )


def test_corrupt_data_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    X = np.zeros((5, 28, 28), np.uint8)
    write_mnist(tmp_path, "train", X, np.arange(5), gz=False)
    write_mnist(tmp_path, "test", X, np.arange(5), gz=False)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-2])
    _one_line_error(
        capsys, ["train", "--data", f"mnist:{tmp_path}"], r"t10k-labels-idx1-ubyte: truncated"
    )
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(20)))
    _one_line_error(capsys, ["train", "--data", f"mnist:{tmp_path}"], "magic number")
    _one_line_error(
        capsys, ["train", "--data", f"cifar10:{tmp_path / 'none'}"], r"none: no such directory"
    )


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["train", "--lr", "fast"], r"^chainrule train: error: argument --lr: expected a number"),
        (["train", "--lr", "-1"], r"argument --lr: .* >= 0"),
        (["train", "--lr", "nan"], r"argument --lr"),
        (["train", "--hidden"], r"argument --hidden: expected at least one argument"),
        (["train", "--hidden", "0"], r"argument --hidden: expected a positive integer"),
        (["train", "--dropout", "1"], r"argument --dropout: expected a probability"),
        (["train", "--optimizer", "lbfgs"], r"argument --optimizer: invalid choice: 'lbfgs'"),
        (["train", "--activation", "gelu"], r"argument --activation: invalid choice"),
        (["train", "--data", "imagenet"], r"unknown dataset 'imagenet'"),
        (["train", "--data", "mnist:"], r"unknown dataset 'mnist:'"),
        (["train", "--epochs", "2.5"], r"argument --epochs"),
        (["train", "--frobnicate"], r"unrecognized arguments: --frobnicate"),
        (["fly"], r"^chainrule: error: argument COMMAND: invalid choice: 'fly'"),
        ([], r"^chainrule: error: the following arguments are required: COMMAND"),
        (["evaluate"], r"the following arguments are required: RUN_DIR"),
        (["evaluate", "/nonexistent/run"], r"/nonexistent/run: no such run directory"),
        (["evaluate", ".", "--split", "dev"], r"argument --split: invalid choice"),
    ],
)
def test_bad_arguments(capsys: pytest.CaptureFixture[str], argv: list[str], pattern: str) -> None:
    _one_line_error(capsys, argv, pattern)


def test_bad_run_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_error(capsys, ["evaluate", str(tmp_path)], "not a run directory")
    _one_line_error(capsys, ["train", "--resume", str(tmp_path)], "not a run directory")
    (tmp_path / "config.json").write_text("{broken")
    _one_line_error(capsys, ["evaluate", str(tmp_path)], r"config.json: unreadable")
    run = tmp_path / "run"
    assert (
        cli.main(["train", "--data", "spiral", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    )
    _one_line_error(capsys, ["train", "--data", "spiral", "--out", str(run)], "already holds a run")
    _one_line_error(
        capsys, ["train", "--resume", str(run), "--lr", "0.1", "--hidden", "3"],
        r"--resume takes its settings from the run; drop --hidden, --lr",
    )  # fmt: skip
    (run / "checkpoint" / "model.safetensors").write_bytes(b"\x00" * 5)
    _one_line_error(capsys, ["evaluate", str(run)], r"model.safetensors: cannot load")
    _one_line_error(capsys, ["train", "--resume", str(run), "--epochs", "3"], "cannot resume")


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"train", "evaluate", "demo"} <= set(subparsers.choices)
    if importlib.util.find_spec("chainrule.viz.cli") is not None:
        assert "explain" in subparsers.choices  # registered by chainrule.viz.cli
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"chainrule {name}: {action.option_strings or action.dest}"
        with pytest.raises(SystemExit) as exit_info:
            sub.parse_args(["--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        for action in sub._actions:
            for option in action.option_strings:
                assert option in text
    train_help = subparsers.choices["train"].format_help()
    for word in ("digits", "spiral", "mnist:DIR", "cifar10:DIR", "momentum", "--resume"):
        assert word in train_help


@pytest.mark.slow
def test_demo_reaches_97_percent_within_a_minute() -> None:
    start = time.monotonic()
    done = _run("demo", "--no-progress", timeout=120)
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    out = done.stdout
    # the neuron's gradients, as on the slide
    grads = dict(
        re.findall(r"d(w0|x0|w1|x1|w2) = (-?[\d.]+)", out.split("backward:")[1].splitlines()[0])
    )
    expected = {"w0": -0.1966, "x0": 0.3932, "w1": -0.3932, "x1": -0.5898, "w2": 0.1966}
    assert {k: float(v) for k, v in grads.items()} == expected
    acc = float(re.search(r"test accuracy ([\d.]+)%", out).group(1))  # type: ignore[union-attr]
    assert acc >= 97.0, out
    assert elapsed < 60


def test_missing_training_extra_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "tqdm":
            raise ModuleNotFoundError(f"No module named {name!r}", name="tqdm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    args = ["train", "--data", "spiral", "--epochs", "1", "--progress", "--out", str(tmp_path)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'chainrule[train]'" in err[0]


def test_training_commands_tune_their_process_unless_the_user_chose(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chainrule.nn import perf

    calls: list[str] = []
    monkeypatch.setattr(perf, "tune_blas", lambda: calls.append("blas") or True)
    monkeypatch.setattr(perf, "tune_malloc", lambda: calls.append("malloc") or True)
    monkeypatch.setattr(perf, "_only_thread", lambda: True)  # as in a fresh process
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    for k in [k for k in os.environ if k.startswith("MALLOC_")]:
        monkeypatch.delenv(k)
    assert cli.main(["evaluate", "/nonexistent/run"]) == 2
    assert calls == ["blas", "malloc"]
    assert cli.main(["explain", "x * 2", "x=1"]) == 0  # not a training command
    assert calls == ["blas", "malloc"]
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "28")  # the user's own choices win
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert cli.main(["evaluate", "/nonexistent/run"]) == 2
    assert calls == ["blas", "malloc"]
    capsys.readouterr()
