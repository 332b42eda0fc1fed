"""The in-memory host: repeated broadcasts to the same room stay right when a
socket starts failing or closes between them; connection states come back
from hibernation exactly as they were."""

from __future__ import annotations

import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets import BroadcastError, ConnectionInit, SocketConfig, UpgradeOpts
from durable_effect.sockets import make_in_memory_socket_runtime as make_runtime
from durable_effect.sockets.memory import START_MS, InMemorySocketRuntime, TestConnection
from examples.chat.handlers import ChatBroadcast
from examples.chat.registry import Chat, ChatConnection, Message, Say, Typing, registry

pytestmark = pytest.mark.anyio

ROOM = "fanout"


async def connect(rt: InMemorySocketRuntime, name: str) -> TestConnection[ChatConnection, Say | Typing, ChatBroadcast]:
    init = ConnectionInit(id=name, initial_state=ChatConnection(user_id=name, joined_at=START_MS))
    return await run_promise(rt.testing_connect(Chat, ROOM, UpgradeOpts(connection=init)))


def message(text: str) -> Message:
    return Message(text=text, user_id="system", ts=START_MS)


def texts(client: TestConnection[ChatConnection, Say | Typing, ChatBroadcast]) -> list[str]:
    return [m.text for m in client.received if isinstance(m, Message)]


async def test_repeated_broadcasts_notice_a_failing_and_a_closed_socket() -> None:
    config: SocketConfig = registry.build({"chat": registry.handler(Chat)})
    rt = make_runtime(config)
    alice, bob, carol = [await connect(rt, name) for name in ("alice", "bob", "carol")]
    chat = rt.room(Chat)
    for i in range(3):
        await run_promise(chat.broadcast(ROOM, message(f"m{i}")))

    bob.fail_sends()
    got = await run_promise(chat.broadcast(ROOM, message("bob fails")).either())
    err = got.failure()
    assert isinstance(err, BroadcastError)
    assert [f.connection_id for f in err.failures] == ["bob"]

    await run_promise(carol.close())
    for i in range(3):
        await run_promise(chat.broadcast(ROOM, message(f"after{i}")).either())

    assert texts(alice) == ["m0", "m1", "m2", "bob fails", "after0", "after1", "after2"]
    assert texts(bob) == ["m0", "m1", "m2"]
    assert texts(carol) == ["m0", "m1", "m2", "bob fails"]


@pytest.mark.parametrize("joined_at", [float("inf"), 1e-07, 1e20])
async def test_a_connection_state_comes_back_from_hibernation_as_it_was(joined_at: float) -> None:
    # The attachment is JSON text; a wake reads it back. Every float the state
    # model accepts must survive the trip, not close the socket as unreadable.
    config: SocketConfig = registry.build({"chat": registry.handler(Chat)})
    rt = make_runtime(config)
    init = ConnectionInit(id="alice", initial_state=ChatConnection(user_id="ål\u2028ice", joined_at=joined_at))
    alice = await run_promise(rt.testing_connect(Chat, ROOM, UpgradeOpts(connection=init)))
    await run_promise(rt.hibernate(Chat, ROOM))
    infos = await run_promise(rt.room(Chat).get_connections(ROOM))
    assert [(i.id, i.state) for i in infos] == [("alice", init.initial_state)]
    assert alice.is_open()
