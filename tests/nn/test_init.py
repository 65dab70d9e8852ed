"""nn.init: the initializers' statistics, in-place filling, errors, and global seeding."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def test_initializers_fill_in_place_and_keep_dtype() -> None:
    w = nn.Parameter(np.zeros((400, 300), np.float32))
    arr = w.data
    for fill in (nn.init.kaiming_normal_, nn.init.xavier_uniform_, nn.init.xavier_normal_):
        assert fill(w) is w
        assert w.data is arr and w.dtype == np.float32
    nn.init.zeros_(w)
    assert (w.data == 0).all()
    nn.init.ones_(w)
    assert (w.data == 1).all()


@pytest.mark.parametrize(
    ("fill", "var"),
    [
        (nn.init.kaiming_normal_, 2 / 1000),
        (nn.init.xavier_normal_, 2 / 1500),
        (nn.init.xavier_uniform_, 2 / 1500),  # U(-a, a) has variance a^2 / 3 = 2 / (in + out)
        (lambda t, rng: nn.init.normal_(t, std=0.05, rng=rng), 0.05**2),
    ],
)
def test_initializer_variances(fill, var: float) -> None:  # type: ignore[no-untyped-def]
    w = fill(nn.Parameter(np.zeros((1000, 500))), rng=np.random.default_rng(0))
    assert w.data.var() == pytest.approx(var, rel=0.02)
    assert abs(w.data.mean()) < 0.01 * np.sqrt(var) * 10


def test_fans_need_two_dimensions() -> None:
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.kaiming_normal_(nn.Parameter(np.zeros(3)))


def test_seed_controls_dropout_masks_too() -> None:
    x = cr.tensor(np.ones((20, 20), np.float32))
    nn.init.seed(5)
    a = nn.Dropout(0.5)(x).data
    nn.init.manual_seed(5)
    b = nn.Dropout(0.5)(x).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, nn.Dropout(0.5)(x).data)
