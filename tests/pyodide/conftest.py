"""One Pyodide-under-Node harness per test module (booting Pyodide takes seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .node_harness import HERE, ROOT, NodeHarness


@pytest.fixture(scope="module")
def harness(request: pytest.FixtureRequest) -> Iterator[NodeHarness]:
    node = NodeHarness(request.module.__name__.rsplit(".", 1)[-1])
    node.start(
        [
            (ROOT / "examples", "examples"),
            (HERE / "in_memory_story.py", "in_memory_story.py"),
            (HERE / "worker_app.py", "worker_app.py"),
            (HERE / "reminders_app.py", "reminders_app.py"),
            (ROOT / "examples" / "cloudflare-chat" / "src", "cloudflare-chat"),
            (ROOT / "tests" / "__init__.py", "tests/__init__.py"),
            (ROOT / "tests" / "sockets" / "__init__.py", "tests/sockets/__init__.py"),
            (ROOT / "tests" / "sockets" / "rooms.py", "tests/sockets/rooms.py"),
        ]
    )
    try:
        yield node
    finally:
        node.stop()
