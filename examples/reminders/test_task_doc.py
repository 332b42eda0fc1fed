"""docs/task.md stays true: every python block in it is in a file of
examples/reminders word for word (and those files are tested by the story)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "task.md"
HERE = Path(__file__).resolve().parent


def test_every_python_block_of_the_task_guide_is_example_code() -> None:
    sources = "\n".join(p.read_text() for p in sorted(HERE.glob("*.py")))
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) >= 8
    missing = [block for block in blocks if block not in sources]
    assert missing == []
