"""The bundled digits: the UCI set's size, ranges, class balance and attribution."""

from __future__ import annotations

from importlib import resources

import numpy as np

from chainrule.data import DIGITS_ATTRIBUTION, digits


def test_digits_are_the_uci_test_set() -> None:
    X, y = digits()
    assert X.shape == (1797, 8, 8) and X.dtype == np.uint8
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.max() == 16 and X.min() == 0
    counts = np.bincount(y, minlength=10)
    assert counts.sum() == 1797 and counts.min() >= 170  # about 180 of each digit
    # the first sample of the UCI file is a 0: a ring of ink around an empty centre
    assert y[0] == 0 and X[0, 3:5, 3:5].sum() == 0 and X[0, 1:7, 1:7].sum() > 200


def test_attribution_ships_beside_the_data() -> None:
    text = resources.files("chainrule.data").joinpath("digits-ATTRIBUTION.txt").read_text()
    assert "CC BY 4.0" in text and "Alpaydin" in text
    assert "CC BY 4.0" in DIGITS_ATTRIBUTION
