"""Shared test set-up: one hypothesis profile for the whole suite, and clean global modes.

Hypothesis runs a modest number of examples with no deadline (two shared cores; gradcheck
evaluates the function twice per input element) and keeps no example database in the tree.
Set ``HYPOTHESIS_PROFILE=thorough`` to run many more examples locally.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from chainrule import function

settings.register_profile(
    "chainrule",
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("chainrule"), max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "chainrule"))


@pytest.fixture(autouse=True)
def _clean_modes() -> Iterator[None]:
    """Fail a test that leaves grad mode or anomaly mode switched, and restore them."""
    before = (function.GradMode.enabled, function.GradMode.anomaly)
    yield
    after = (function.GradMode.enabled, function.GradMode.anomaly)
    function.GradMode.enabled, function.GradMode.anomaly = before
    assert after == before, f"the test left (grad enabled, anomaly) = {after}, was {before}"
