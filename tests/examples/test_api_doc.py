"""docs/api.md lists every public name of every public module."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
MODULES = [
    "durable_effect.effect",
    "durable_effect.sockets",
    "durable_effect.sockets.testing",
    "durable_effect.sockets.server",
    "durable_effect.sockets.cloudflare",
    "durable_effect.sockets.cloudflare.testing",
    "durable_effect.sockets.client",
    "durable_effect.sockets.wire",
    "durable_effect.platform",
    "durable_effect.task",
    "durable_effect.task.testing",
    "durable_effect.task.cloudflare",
]


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_is_documented(module: str) -> None:
    section = DOC.split(f"## `{module}`\n", 1)
    assert len(section) == 2, f"docs/api.md has no section for {module}"
    body = section[1].split("\n## ", 1)[0]
    names: list[str] = list(importlib.import_module(module).__all__)
    missing = [name for name in names if f"| `{name}` |" not in body]
    assert missing == []
