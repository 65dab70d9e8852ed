"""train.sanity_check and `chainrule check`: each check passes on a healthy model and fails,
naming the reason, on a deliberately broken one."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, nn, train


@pytest.fixture(scope="module")
def digits_train() -> tuple[np.ndarray, np.ndarray]:
    splits, _ = cr.data.load_splits("digits")
    return splits.train


def _net(seed: int = 0) -> nn.Module:
    return nn.MLP([64, 30, 10], rng=np.random.default_rng(seed))


def _by_name(report: train.SanityReport) -> dict[str, train.Check]:
    return {c.name: c for c in report.checks}


def test_healthy_model_passes_every_check_and_is_left_untouched(digits_train):
    net = _net().train()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    report = train.sanity_check(net, digits_train, verbose=False)
    assert report.passed, str(report)
    assert len(report.checks) == 8
    assert all(np.array_equal(v, before[k]) for k, v in net.state_dict().items())
    assert net.training


def test_initial_loss_is_ln_c_when_the_scores_start_at_zero(digits_train):
    net = _net()
    net[2].weight.data[...] = 0.0  # every class equally likely: the loss is ln(10) exactly
    check = _by_name(train.sanity_check(net, digits_train, verbose=False))["initial loss"]
    assert check.passed
    assert f"{math.log(10):.4f} on 500" in check.detail


def test_mlp_default_init_starts_near_ln_c(digits_train):
    # the fixed cause: the output layer no longer gets Kaiming's ReLU gain at full scale
    x, y = digits_train
    scores = nn.MLP([64, 100, 10], rng=np.random.default_rng(0))(cr.tensor(x))
    loss = float(nn.functional.cross_entropy(scores, y).data)
    assert abs(loss - math.log(10)) < 0.05


def test_too_large_output_init_fails_the_initial_loss(digits_train):
    net = _net()
    net[2].weight.data[...] *= 30.0
    check = _by_name(train.sanity_check(net, digits_train, verbose=False))["initial loss"]
    assert not check.passed
    assert "expected ln(C) = 2.3026" in check.detail


def test_svm_initial_loss_is_c_minus_one(digits_train):
    net = _net()
    net[2].weight.data[...] = 0.0  # all scores 0: every wrong class costs the margin 1
    check = _by_name(train.sanity_check(net, digits_train, loss="svm", verbose=False))
    assert check["initial loss"].passed
    assert "9.0000 on 500" in check["initial loss"].detail


def test_labels_out_of_range_fail_and_skip_the_model_checks(digits_train):
    x, y = digits_train
    y = y.copy()
    y[5] = 12
    checks = _by_name(train.sanity_check(_net(), (x, y), num_classes=10, verbose=False))
    assert not checks["labels"].passed
    assert "1 labels outside [0, 10), e.g. y[5] = 12" in checks["labels"].detail
    assert checks["gradcheck"].detail.startswith("skipped")


def test_nan_inputs_fail(digits_train):
    x, y = digits_train
    x = x.copy()
    x[3, 7] = np.nan
    x[4, 0] = np.inf
    checks = _by_name(train.sanity_check(_net(), (x, y), verbose=False))
    assert not checks["finite inputs"].passed
    assert "2 NaN/inf values" in checks["finite inputs"].detail


def test_unstandardized_and_unbalanced_data_fail(digits_train):
    x, y = digits_train
    keep = (y != 3) | (np.arange(len(y)) % 10 == 0)  # class 3 down to a tenth
    checks = _by_name(train.sanity_check(_net(), (x[keep] * 5 + 2, y[keep]), verbose=False))
    assert not checks["standardized"].passed
    assert not checks["class balance"].passed
    counts = np.bincount(y[keep], minlength=10)
    assert f"smallest class {counts.min()} samples" in checks["class balance"].detail


class _WrongTanh(cr.Function):
    """tanh with the local gradient 1 - out (the square forgotten)."""

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        return dout * (1 - self.out)


class _Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 20, rng=np.random.default_rng(0))
        self.fc2 = nn.Linear(20, 10, init=0.01, rng=np.random.default_rng(1))

    def forward(self, x):
        return self.fc2(_WrongTanh.apply(self.fc1(x)))


def test_wrong_backward_fails_the_gradcheck_naming_the_parameter(digits_train):
    check = _by_name(train.sanity_check(_Broken(), digits_train, verbose=False))["gradcheck"]
    assert not check.passed
    assert " at fc1." in check.detail  # the wrong gate lies below fc1's output


class _BiasOnly(nn.Module):
    """Scores that ignore the input: no 20 samples of several classes can be fitted."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(np.zeros(10, np.float32))

    def forward(self, x):
        return cr.tensor(np.zeros((x.shape[0], 10), np.float32)) + self.bias


def test_unoverfittable_model_fails_the_overfit_check(digits_train):
    check = _by_name(train.sanity_check(_BiasOnly(), digits_train, verbose=False))["overfit"]
    assert not check.passed
    assert "reached only" in check.detail and "in 300 steps" in check.detail
    assert not _by_name(train.sanity_check(_BiasOnly(), digits_train, verbose=False))[
        "regularization"
    ].passed  # no weight to penalize: reg cannot raise the loss


def test_bad_data_shape_is_one_clear_error():
    with pytest.raises(ValueError, match=r"X \(N, D\) and y \(N,\)"):
        train.sanity_check(_net(), (np.zeros((3, 64)), np.zeros((4,), int)))


def test_cli_check_exits_0_on_the_defaults(capsys):
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == 8 and "all checks passed" in out


def test_cli_check_bad_data_is_one_line_exit_2(capsys):
    assert cli.main(["check", "--data", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
