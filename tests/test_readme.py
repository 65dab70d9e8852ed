"""The README's examples run: every ```python block, each in a fresh namespace, with the
output the README claims where it states one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_the_readme_has_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(
    index: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # files a block writes stay out of the tree
    block = BLOCKS[index]
    exec(compile(block, f"README.md block {index + 1}", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    # where a line says what it prints ("# tensor(-4.) ..."), the output must contain it
    for claim in re.findall(r"print\(.*\)\s+# (tensor\(.*)$", block, flags=re.M):
        assert claim.split("   ")[0] in out
    if "training accuracy" in block:
        accuracy = float(re.search(r"training accuracy (\d+)%", out).group(1))  # type: ignore[union-attr]
        assert accuracy >= 98
