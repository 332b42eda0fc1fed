"""State stored under an older schema is a typed RoomError, never a crash."""

from __future__ import annotations

import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets import RoomError, RoomExecutionError, make_in_memory_socket_runtime
from examples.counter.room import Add, Counter, config


@pytest.mark.anyio
async def test_unreadable_state_is_a_room_error() -> None:
    rt = make_in_memory_socket_runtime(config)
    rt.host("counter", "c1").storage["state"] = '{"n": "not a number"}'
    got = await run_promise(rt.room(Counter).get_state("c1").either())
    assert isinstance(got.failure(), RoomError)
    # A handler that recalls it fails with that error; the stored value is untouched.
    sent = await run_promise(rt.room(Counter).send("c1", Add(by=1)).either())
    assert isinstance(sent.failure(), RoomError | RoomExecutionError)
    assert rt.host("counter", "c1").storage["state"] == '{"n": "not a number"}'
