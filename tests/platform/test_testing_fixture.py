"""The pytest fixture that durable_effect.sockets.testing ships."""

from __future__ import annotations

import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, UpgradeOpts
from durable_effect.sockets.testing import RuntimeFactory, socket_runtime  # noqa: F401  (registers the fixture)
from examples.counter.room import Add, Counter, Member, Total, config


@pytest.mark.anyio
async def test_fixture_gives_fresh_runtimes(socket_runtime: RuntimeFactory) -> None:  # noqa: F811
    first = socket_runtime(config)
    second = socket_runtime(config)
    assert first is not second
    ann = await run_promise(first.testing_connect(Counter, "c", UpgradeOpts(ConnectionInit(Member(name="ann")))))
    await run_promise(ann.receive(Add(by=4)))
    assert ann.received == [Total(n=4)]
    assert await run_promise(second.room(Counter).get_state("c")) is None
