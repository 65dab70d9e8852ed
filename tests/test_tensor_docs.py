"""Every public Tensor method has a docstring with an example, and the examples are right."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import chainrule as cr

METHODS = sorted(
    n for n in dir(cr.Tensor) if not n.startswith("_") and callable(getattr(cr.Tensor, n))
)


@pytest.mark.parametrize("name", METHODS)
def test_the_method_has_an_example(name: str) -> None:
    doc = getattr(cr.Tensor, name).__doc__ or ""
    assert ">>>" in doc, f"Tensor.{name} has no example in its docstring"


@pytest.mark.parametrize("name", METHODS)
def test_the_example_prints_what_it_says(name: str) -> None:
    finder, runner = doctest.DocTestFinder(recurse=False), doctest.DocTestRunner(verbose=False)
    for test in finder.find(getattr(cr.Tensor, name), f"Tensor.{name}", globs={"cr": cr, "np": np}):
        result = runner.run(test)
        assert result.failed == 0, f"Tensor.{name}'s example fails"
