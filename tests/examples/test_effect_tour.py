"""The effect guide stays true: its tour runs, and every example in the guide is in the tour."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "examples" / "effect_tour.py"
GUIDE = ROOT / "docs" / "effect.md"

_CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_the_tour_runs_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    namespace = runpy.run_path(str(TOUR))

    namespace["main"]()

    assert "every example ran" in capsys.readouterr().out


def test_every_code_block_of_the_guide_is_in_the_tour() -> None:
    tour = TOUR.read_text()
    blocks = _CODE_BLOCK.findall(GUIDE.read_text())

    assert blocks, "docs/effect.md has no python code blocks"
    missing = [block for block in blocks if block.strip() not in tour]
    assert missing == [], f"examples in docs/effect.md but not in examples/effect_tour.py: {missing}"
