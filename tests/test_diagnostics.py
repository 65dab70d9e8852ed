"""train.Diagnostics, train.find_lr and their train options: numbers against ones computed here
from the model's own activations and parameters, the report's HTML, the warnings."""

from __future__ import annotations

import html.parser
import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, nn, optim, train


@pytest.fixture(scope="module")
def digits():
    splits, _ = cr.data.load_splits("digits")
    return splits


class _Recorder:
    """Every parameter's array after every step (an independent record)."""

    def __init__(self) -> None:
        self.weights: list[dict[str, np.ndarray]] = []

    def __call__(self, trainer) -> None:
        self.weights.append({n: p.data.copy() for n, p in trainer.model.named_parameters()})


def _run(x, y, activation, every, steps_per_epoch_batch=64, epochs=1, scale=1.0, lr=1e-2):
    net = nn.MLP([64, 40, 10], activation=activation, rng=np.random.default_rng(0))
    net[0].weight.data[...] *= scale
    diag, rec = train.Diagnostics(every=every, probe_size=128), _Recorder()
    loader = cr.data.DataLoader(x, y, batch_size=steps_per_epoch_batch, seed=0)
    trainer = train.Trainer(net, optim.Adam(net.parameters(), lr=lr), loader, epochs=epochs,
                            verbose=False, callbacks=[diag, rec])  # fmt: skip
    trainer.fit()
    return net, diag, rec


def test_update_ratio_equals_std_of_the_step_over_std_of_the_weight(digits):
    x, y = digits.train
    _, diag, rec = _run(x, y, "relu", every=4)
    assert [r["step"] for r in diag.records] == [4, 8, 12, 16, 20]  # 20 batches of 64
    for r in diag.records:
        k = r["step"]
        for name, p in r["params"].items():
            now, before = rec.weights[k - 1][name], rec.weights[k - 2][name]
            expected = np.std(now.astype(np.float64) - before) / np.std(now.astype(np.float64))
            assert p["update_ratio"] == pytest.approx(expected, rel=1e-6), (k, name)
            assert p["weight_std"] == pytest.approx(np.std(now.astype(np.float64)), rel=1e-9)


def test_dead_and_saturated_percentages_match_numpy(digits):
    x, y = digits.train
    for activation, key in (("relu", "dead_pct"), ("tanh", "saturated_pct")):
        net, diag, _ = _run(x, y, activation, every=20, scale=4.0)  # 20 steps: the last one
        last = diag.records[-1]
        assert last["step"] == 20
        w, b = net[0].weight.data.astype(np.float64), net[0].bias.data.astype(np.float64)
        pre = x[:128].astype(np.float64) @ w + b
        if activation == "relu":
            expected = 100 * np.mean(~(np.maximum(pre, 0) > 0).any(axis=0))
        else:
            expected = 100 * np.mean(np.abs(np.tanh(pre)) > 0.97)
        assert last["layers"]["1"][key] == pytest.approx(expected, abs=0.01)
        assert last["layers"]["1"]["mean"] == pytest.approx(
            (np.maximum(pre, 0) if activation == "relu" else np.tanh(pre)).mean(), abs=1e-5
        )


def test_sampling_leaves_training_bitwise_unchanged(digits):
    x, y = digits.train
    with_diag, _, _ = _run(x, y, "relu", every=3)
    net = nn.MLP([64, 40, 10], rng=np.random.default_rng(0))
    loader = cr.data.DataLoader(x, y, batch_size=64, seed=0)
    train.Trainer(net, optim.Adam(net.parameters(), lr=1e-2), loader, epochs=1,
                  verbose=False).fit()  # fmt: skip
    for a, b in zip(with_diag.parameters(), net.parameters(), strict=True):
        assert np.array_equal(a.data, b.data)


def test_too_large_tanh_init_is_named_in_a_warning(digits, capsys):
    x, y = digits.train
    net = nn.MLP([64, 40, 10], activation="tanh", rng=np.random.default_rng(0))
    net[0].weight.data[...] *= 10
    loader = cr.data.DataLoader(x, y, batch_size=128, seed=0)
    diag = train.Diagnostics(every=5)
    train.Trainer(net, optim.Adam(net.parameters(), lr=1e-3), loader, epochs=1, verbose=True,
                  callbacks=[diag]).fit()  # fmt: skip
    assert diag.warnings and diag.warnings[0].startswith("1 (tanh): ")
    assert "% of units saturated" in diag.warnings[0] and "initialization" in diag.warnings[0]
    printed = capsys.readouterr()
    assert "diagnose: 1 (tanh)" in printed.out + printed.err


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def test_cli_diagnose_writes_jsonl_and_a_self_contained_page(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", "--diagnose", "--diagnose-every", "10", "--epochs", "2",
                     "--quiet", "--out", str(out)]) == 0  # fmt: skip
    lines = (out / "diagnostics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == list(range(10, 90, 10))  # 40 batches an epoch, 2 epochs
    text = (out / "diagnostics.html").read_text()
    page = _Page()
    page.feed(text)
    assert page.tags["svg"] >= 5 and page.tags.get("polyline", 0) >= 2
    assert page.urls == [] and "http" not in text and "<script" not in text


def test_find_lr_suggests_a_stable_rate_on_digits_and_restores_the_model(digits):
    x, y = digits.train
    net = nn.MLP([64, 100, 10], rng=np.random.default_rng(0))
    before = {k: v.copy() for k, v in net.state_dict().items()}
    g = nn.init.get_rng().bit_generator.state
    r = train.find_lr(net, (x, y))
    assert r.stopped.startswith("loss diverged")
    assert all(np.array_equal(v, before[k]) for k, v in net.state_dict().items())
    assert nn.init.get_rng().bit_generator.state == g
    assert r.suggestion < r.lrs[-1] / 10
    # stable: 3 epochs at the suggested rate lower the loss steadily
    trainer = train.fit(net, optim.Adam(net.parameters(), lr=r.suggestion), (x, y), epochs=3,
                        batch_size=32, verbose=False)  # fmt: skip
    losses = [h["train_loss"] for h in trainer.history]
    assert losses[0] > losses[1] > losses[2] and losses[2] < 0.5 * math.log(10)


def test_cli_find_lr_writes_only_the_plot(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--find-lr", "--out", "run"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr_find.png"]
    assert (tmp_path / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "suggested learning rate:" in capsys.readouterr().out


def test_bad_every_is_one_clear_error():
    with pytest.raises(ValueError, match="every must be a positive int"):
        train.Diagnostics(every=0)
    with pytest.raises(ValueError, match="lr_min < lr_max"):
        train.find_lr(nn.Linear(2, 2), (np.zeros((4, 2)), np.zeros(4, int)), lr_min=1.0, lr_max=0.1)
