"""The tutorial's code runs: every ```python block of docs/tutorial.md, in order, in one
namespace (the project's own trusted docs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"


def _blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_tutorial_has_code_for_each_part() -> None:
    text = TUTORIAL.read_text()
    assert len(_blocks(text)) >= 5
    for heading in ("A graph", "sigmoid neuron", "gate of your own", "2-layer net", "convnet"):
        assert heading in text


def test_tutorial_code_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # anything a block writes stays out of the tree
    namespace: dict[str, object] = {"__name__": "tutorial"}
    for i, block in enumerate(_blocks(TUTORIAL.read_text())):
        code = compile(block, f"{TUTORIAL.name}, block {i + 1}", "exec")
        exec(code, namespace)  # our own docs, not user input
    out = capsys.readouterr().out
    assert "-12.0 -4.0 -4.0 3.0" in out
    assert "test accuracy" in out
    assert "convnet test accuracy" in out
