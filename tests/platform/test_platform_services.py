"""Storage and Alarm, the shared platform services, inside room handlers."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from durable_effect.effect import EffectGen, gen, run_promise
from durable_effect.platform import Alarm, Storage
from durable_effect.sockets import (
    ConnectionInit,
    RoomCtx,
    RoomError,
    RoomExecutionError,
    Schema,
    SocketRegistry,
    TaggedStruct,
    UpgradeOpts,
    WebSocketRoom,
    make_in_memory_socket_runtime,
)

pytestmark = pytest.mark.anyio


class State(BaseModel):
    seen: int


class Conn(BaseModel):
    name: str


class Remember(TaggedStruct, tag="Remember"):
    key: str
    value: str
    then_fail: bool = False


class Wake(TaggedStruct, tag="Wake"):
    at_ms: float


class Noted(TaggedStruct, tag="Noted"):
    value: str | None


Notes = WebSocketRoom.make(
    "notes", state=State, connection=Conn, event=Schema.union(Remember, Wake), broadcast=Schema.union(Noted)
)
registry = SocketRegistry.make(Notes)
Ctx = RoomCtx[State, Conn, Remember | Wake, Noted]


class Boom(Exception):
    pass


@gen
def on_event(ctx: Ctx, event: Remember | Wake) -> EffectGen[None, RoomError, Storage | Alarm]:
    storage = yield from Storage
    alarm = yield from Alarm
    match event:
        case Remember(key=key, value=value, then_fail=then_fail):
            before = yield from storage.get(key)
            yield from storage.put(key, value)
            after = yield from storage.get(key)
            assert after == value  # a run reads its own writes
            if then_fail:
                raise Boom(f"after writing {key}")
            yield from ctx.broadcast(Noted(value=before)).or_die()
        case Wake(at_ms=at_ms):
            yield from alarm.set(at_ms)


config = registry.build({"notes": registry.handler(Notes, on_event=on_event)})


async def test_storage_is_per_instance_and_transactional() -> None:
    rt = make_in_memory_socket_runtime(config)
    ann = await run_promise(rt.testing_connect(Notes, "n1", UpgradeOpts(ConnectionInit(Conn(name="ann")))))
    await run_promise(ann.receive(Remember(key="k", value="one")))
    await run_promise(ann.receive(Remember(key="k", value="two")))
    assert ann.received == [Noted(value=None), Noted(value="one")]

    # A run that fails after writing leaves storage as it was.
    failed = await run_promise(rt.room(Notes).send("n1", Remember(key="k", value="lost", then_fail=True)).either())
    assert isinstance(failed.failure(), RoomExecutionError)
    await run_promise(ann.receive(Remember(key="k", value="three")))
    assert ann.received[-1] == Noted(value="two")

    # Another instance has its own keys; user keys never touch the room state.
    await run_promise(rt.room(Notes).send("n2", Remember(key="k", value="x")))
    assert await run_promise(rt.room(Notes).get_state("n1")) is None


async def test_alarm_service_schedules_the_instance_alarm() -> None:
    rt = make_in_memory_socket_runtime(config)
    at = rt.clock.now_ms() + 5_000
    await run_promise(rt.room(Notes).send("n1", Wake(at_ms=at)))
    assert rt.host("notes", "n1").alarm == at
