"""The README's room is real code: the same text as examples/counter/room.py, and it works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, UpgradeOpts, make_in_memory_socket_runtime
from examples.counter.room import Add, Count, Counter, Member, Total, config

ROOT = Path(__file__).resolve().parents[2]


def test_readme_room_is_the_example_file() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## A room in 30 lines\n\n```python\n(.*?)```", readme, re.S)
    assert block is not None
    assert len(block.group(1).strip().splitlines()) <= 30
    assert block.group(1) in (ROOT / "examples" / "counter" / "room.py").read_text()


@pytest.mark.anyio
async def test_readme_room_counts_and_broadcasts() -> None:
    rt = make_in_memory_socket_runtime(config)
    ann = await run_promise(rt.testing_connect(Counter, "c1", UpgradeOpts(ConnectionInit(Member(name="ann")))))
    bob = await run_promise(rt.testing_connect(Counter, "c1", UpgradeOpts(ConnectionInit(Member(name="bob")))))
    await run_promise(ann.receive(Add(by=2)))
    await run_promise(rt.room(Counter).send("c1", Add(by=3)))
    assert ann.received == [Total(n=2), Total(n=5)]
    assert bob.received == [Total(n=2), Total(n=5)]
    assert await run_promise(rt.room(Counter).get_state("c1")) == Count(n=5)
