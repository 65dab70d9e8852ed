"""chainrule.distributed: world size 1 without MPI, and 2 ranks under ``mpiexec -n 2`` against a
single-process reference that loops over the ranks' shards (tests/dist_worker.py runs there)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import distributed as dist
from chainrule import nn
from chainrule.data.loader import DataLoader

sys.path.insert(0, str(Path(__file__).parent))
import dist_worker as W  # noqa: N812 - the worker, short: W.model, W.data

WORKER = Path(__file__).parent / "dist_worker.py"
TIMEOUT = 120  # seconds: no MPI test may hang CI

try:
    import mpi4py  # noqa: F401

    MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which(
        "mpiexec"
    )
except ImportError:
    MPIEXEC = None
needs_mpi = pytest.mark.skipif(
    MPIEXEC is None, reason="mpi4py (and its mpiexec) not installed: pip install 'chainrule[mpi]'"
)


def mpirun(tmp_path: Path, *args: str, n: int = 2, timeout: float = TIMEOUT) -> tuple:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    cmd = [str(MPIEXEC), "-n", str(n), sys.executable, str(WORKER), args[0], str(tmp_path / "o")]
    proc = subprocess.run(
        cmd + list(args[1:]), capture_output=True, text=True, timeout=timeout, env=env
    )
    outs = [tmp_path / f"o.rank{r}.npz" for r in range(n)]
    results = [dict(np.load(p)) if p.exists() else None for p in outs]
    return proc, results


def reference(
    opt_name: str, dropout: float, bn: bool, world: int = 2, l2: float = 0.0
) -> dict[str, np.ndarray]:
    """One process: each step, every rank's shard through the model with that rank's dropout
    generator, the losses weighted by shard size (= the whole batch's mean loss), plus the
    weight penalty ``l2`` once, one step."""
    net = W.model(1, dropout, bn)  # rank 0's initialization, which DataParallel broadcasts
    gens = None
    if dropout > 0:
        (drop,) = [m for m in net.modules() if isinstance(m, nn.Dropout)]
        s = int(drop.rng.integers(2**62))
        gens = [np.random.default_rng([s, r]) for r in range(world)]
    X, y = W.data()
    loader = DataLoader(X, y, batch_size=W.BATCH, seed=5)
    opt = W.make_optimizer(opt_name, net.parameters())
    lossf = nn.CrossEntropyLoss()
    for xb, yb in loader:
        parts = np.array_split(np.arange(len(xb)), world)
        total = None
        for r, idx in enumerate(parts):
            if gens is not None:
                drop.rng = gens[r]
            loss = lossf(net(cr.tensor(xb[idx])), yb[idx]) * (len(idx) / len(xb))
            total = loss if total is None else total + loss
        if l2:
            total = total + nn.functional.l2_penalty(net, l2)
        opt.zero_grad()
        total.backward()
        opt.step()
    return net.state_dict()


# -- world size 1 -----------------------------------------------------------------------------


def test_world_size_one_is_a_no_op() -> None:
    assert (dist.init(), dist.rank(), dist.world_size(), dist.is_main()) == (1, 0, 1, True)
    dist.barrier()
    a = np.array([1.0, 2.0])
    assert dist.all_reduce(a) is a and a.tolist() == [1.0, 2.0]
    assert dist.broadcast(a, root=0) is a
    model = nn.Linear(2, 2)
    assert dist.DataParallel(model) is model


def test_world_size_one_without_mpi4py(tmp_path: Path) -> None:
    # mpi4py made unimportable: chainrule.distributed and a training step still work
    code = (
        "import sys; sys.modules['mpi4py'] = None\n"
        "import numpy as np, chainrule as cr\n"
        "from chainrule import distributed as dist, nn, optim\n"
        "net = dist.DataParallel(nn.Linear(2, 1))\n"
        "opt = optim.SGD(net.parameters(), lr=0.1)\n"
        "net(cr.tensor(np.ones((3, 2), np.float32))).sum().backward(); opt.step()\n"
        "print(dist.world_size(), dist.rank(), float(dist.all_reduce(np.ones(1))[0]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "0", "1.0"]


def test_launched_under_mpi_without_mpi4py_is_one_clear_error() -> None:
    code = "import sys; sys.modules['mpi4py'] = None\nfrom chainrule import distributed\n"
    code += "distributed.init()\n"
    env = dict(os.environ, PMI_SIZE="2", PMI_RANK="0")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode != 0
    assert "mpi4py is not installed" in out.stderr and "chainrule[mpi]" in out.stderr


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="op must be 'mean' or 'sum'"):
        dist.all_reduce(np.ones(2), op="max")
    with pytest.raises(ValueError, match=r"root must be a rank 0\.\.0"):
        dist.broadcast(np.ones(2), root=1)
    with pytest.raises(TypeError, match="expected a Tensor or an ndarray"):
        dist.all_reduce([1.0])
    with pytest.raises(ValueError, match="shard must be"):
        DataLoader(np.zeros((4, 1)), np.zeros(4), batch_size=2, shard=(2, 2))
    with pytest.raises(ValueError, match="last batch has 1 samples for 2 ranks"):
        DataLoader(np.zeros((5, 1)), np.zeros(5), batch_size=2, shard=(0, 2))


def test_shards_are_disjoint_and_their_union_is_the_single_process_order() -> None:
    X, y = np.arange(25.0)[:, None], np.arange(25)  # last batch: 4 samples
    whole = [yb for _, yb in DataLoader(X, y, batch_size=7, seed=3)]
    for world in (2, 3, 4):
        parts = [
            [yb for _, yb in DataLoader(X, y, batch_size=7, seed=3, shard=(r, world))]
            for r in range(world)
        ]
        for b, batch in enumerate(whole):
            assert np.concatenate([p[b] for p in parts]).tolist() == batch.tolist()


# -- two ranks --------------------------------------------------------------------------------


@needs_mpi
@pytest.mark.parametrize(
    "opt_name,dropout,bn",
    [
        ("sgd", 0.0, False),
        ("adam", 0.0, False),
        ("sgd", 0.5, True),
        ("adam", 0.3, True),
        ("sgd", -1.0, False),  # dropout -1: the Shared model (a reused layer, a 3-D input, ...)
    ],
)
def test_two_ranks_match_one_process(tmp_path: Path, opt_name: str, dropout: float, bn: bool):
    proc, (r0, r1) = mpirun(tmp_path, "train", opt_name, str(dropout), "bn" if bn else "-")
    assert proc.returncode == 0, proc.stderr
    ref = reference(opt_name, dropout, bn)
    assert int(r0["steps"]) == W.STEPS
    for k, v in ref.items():
        if "running" in k:  # per-rank statistics, averaged by sync_buffers: equal on both ranks
            np.testing.assert_array_equal(r0[k], r1[k])
            continue
        np.testing.assert_allclose(r0[k], v, rtol=0, atol=1e-10, err_msg=k)
        np.testing.assert_array_equal(r0[k], r1[k], err_msg=k)


@needs_mpi
def test_a_gradient_from_outside_the_model_is_averaged_on_its_own(tmp_path: Path) -> None:
    # an L2 penalty on dp.module's weights, outside DataParallel's forward: its gradient reaches
    # .grad directly (no gate), and synchronize() averages it apart and adds it
    proc, (r0, r1) = mpirun(tmp_path, "train", "sgd", "0.0", "l2")
    assert proc.returncode == 0, proc.stderr
    for k, v in reference("sgd", 0.0, False, l2=0.01).items():
        np.testing.assert_allclose(r0[k], v, rtol=0, atol=1e-10, err_msg=k)
        np.testing.assert_array_equal(r0[k], r1[k], err_msg=k)


@needs_mpi
def test_a_bucket_allreduce_starts_before_backward_ends(tmp_path: Path) -> None:
    proc, (r0, _) = mpirun(tmp_path, "trace")
    assert proc.returncode == 0, proc.stderr
    kinds, index = r0["trace_kind"].tolist(), r0["trace_index"].tolist()
    assert int(r0["n_buckets"]) > 1
    # the first step: bucket 0 (the last layer's gradients) is launched while the first layer's
    # gradients (parameters 0 and 1, registered first) are not yet computed
    first = kinds.index("synchronized")
    step = list(zip(kinds[:first], index[:first], strict=True))
    launch0 = step.index(("launch", 0))
    assert ("ready", 0) in step[launch0:] and ("ready", 1) in step[launch0:]
    assert r0["grad_in_bucket"].all() and len(r0["grad_in_bucket"]) == 6
    assert str(r0["last_node"]) == "LinearInto"
    assert str(r0["scale_type"]) == "float"


@needs_mpi
def test_a_second_backward_through_one_forward_is_one_clear_error(tmp_path: Path) -> None:
    proc, results = mpirun(tmp_path, "twice", timeout=60)
    assert proc.returncode != 0 and results == [None, None]
    assert "DataParallel: a second backward through the same forward pass" in proc.stderr


@needs_mpi
def test_two_forward_passes_before_one_backward_is_one_clear_error(tmp_path: Path) -> None:
    """The second forward starts a new step (its use counts, its batch size): the first pass's
    gradients must not be averaged into it, nor blamed on a second backward."""
    proc, results = mpirun(tmp_path, "two_forwards", timeout=60)
    assert proc.returncode != 0 and results == [None, None]
    assert "DataParallel: this backward runs through a forward pass made before the latest" in (
        proc.stderr
    )
    assert "second backward" not in proc.stderr


@needs_mpi
def test_stop_on_one_rank_stops_all_after_the_same_step(tmp_path: Path) -> None:
    proc, (r0, r1) = mpirun(tmp_path, "stop")
    assert proc.returncode == 0, proc.stderr
    assert int(r0["steps"]) == int(r1["steps"]) == 8  # asked during step 7, seen by step 8's pass


@needs_mpi
@pytest.mark.parametrize("mode", ["raise", "kill"])
def test_a_failing_rank_ends_the_job_with_a_clear_error(tmp_path: Path, mode: str) -> None:
    start = time.monotonic()
    proc, results = mpirun(tmp_path, mode, timeout=60)
    assert time.monotonic() - start < 60
    assert proc.returncode != 0
    assert results == [None, None]
    if mode == "raise":
        assert "rank 1 of 2 failed with ValueError: a deliberate failure on step 3" in proc.stderr
    else:
        # MPICH's launcher ends the other ranks and names the dead process (by PID)
        text = proc.stdout + proc.stderr
        assert "BAD TERMINATION" in text and "Killed (signal 9)" in text


@needs_mpi
def test_mismatched_models_are_reported_at_construction(tmp_path: Path) -> None:
    proc, results = mpirun(tmp_path, "mismatch", timeout=60)
    assert proc.returncode != 0 and results == [None, None]
    assert "DataParallel: the model differs on rank(s) [1] from rank 0" in proc.stderr


@needs_mpi
def test_fit_on_two_ranks_stops_together_and_resumes_exactly(tmp_path: Path) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    proc, (ref0, ref1) = mpirun(tmp_path, "fit", str(whole), "-1")
    assert proc.returncode == 0, proc.stderr
    assert int(ref0["steps"]) == 40
    proc, (a0, a1) = mpirun(tmp_path, "fit", str(parts), "13")  # Ctrl-C on rank 1 at step 13
    assert proc.returncode == 0, proc.stderr
    assert int(a0["steps"]) == int(a1["steps"]) == 14  # both ranks, after the same step
    proc, (b0, b1) = mpirun(tmp_path, "fit", str(parts), "-1")  # resume to the end
    assert proc.returncode == 0, proc.stderr
    for k in ref0:
        np.testing.assert_array_equal(b0[k], ref0[k], err_msg=k)  # bitwise, on each rank
        np.testing.assert_array_equal(b1[k], ref1[k], err_msg=k)
        if "running" not in k:  # the weights are the same on both ranks
            np.testing.assert_array_equal(ref0[k], ref1[k], err_msg=k)
    # rank 0 alone wrote the metrics; validation was scored over both ranks' halves
    lines = (whole / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    import json

    from chainrule.train import metrics

    net = W.model(1, 0.3, True)
    saved = {k: (v + ref1[k]) / 2 if "running" in k else v for k, v in ref0.items()}
    net.load_state_dict({k: v for k, v in saved.items() if k != "steps"})  # the checkpoint's
    X, y = W.data()
    vl, va = metrics.evaluate(net, X[:101], y[:101])
    last = json.loads(lines[-1])
    assert abs(last["val_loss"] - vl) < 1e-12 and abs(last["val_acc"] - va) < 1e-12


@needs_mpi
def test_chainrule_train_ranks_2_matches_one_process(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "chainrule"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    common = ["train", "--epochs", "2", "--no-progress", "--hidden", "32"]
    runs = {}
    for ranks in (1, 2):
        out = tmp_path / f"r{ranks}"
        cmd = [str(exe), *common, "--ranks", str(ranks), "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env)
        assert proc.returncode == 0, proc.stderr
        runs[ranks] = proc.stdout.splitlines()
    assert len(runs[2]) == len(runs[1])  # rank 0 alone prints

    def speed_aside(line: str) -> str:
        return line.split("samples/s")[0].rstrip().rsplit(" ", 1)[0].rstrip()

    for a, b in zip(runs[1], runs[2], strict=True):  # the same run, samples/s aside
        assert speed_aside(a).replace("r1", "r2") == speed_aside(b)
    assert runs[2][-1].startswith("test accuracy")


def test_ranks_without_mpi_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chainrule import cli
    from chainrule.train import launch

    monkeypatch.setattr(launch, "mpiexec", lambda: None)
    assert cli.main(["train", "--ranks", "2", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["chainrule train: error: --ranks needs MPI's mpiexec: pip install "
                   "'chainrule[mpi]' (mpi4py and mpich)"]  # fmt: skip
