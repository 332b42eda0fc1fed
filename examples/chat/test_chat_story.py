"""The seed's end-to-end chat story, replayed on the in-memory runtime.

The seed checks its chat with five real WebSocket clients against
`wrangler dev` (`scripts/e2e-chat.mjs`: 5-client fan-out). This is the same
story, told with the very handlers of `examples/chat`, on the in-memory host:
same engine, no network, a test clock. Read it top to bottom.
"""

from __future__ import annotations

import json

import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, UpgradeOpts, make_in_memory_socket_runtime
from durable_effect.sockets.memory import START_MS, InMemorySocketRuntime, TestConnection
from examples.chat.handlers import config
from examples.chat.registry import (
    Chat,
    ChatConnection,
    ChatState,
    Message,
    Say,
    Typing,
    TypingBroadcast,
    UserJoined,
    UserLeft,
)

ROOM = "room-1"
NAMES = ["alice", "bob", "carol", "dave", "eve"]

ChatClient = TestConnection[ChatConnection, Say | Typing, Message | UserJoined | UserLeft | TypingBroadcast]


async def join(rt: InMemorySocketRuntime, name: str) -> ChatClient:
    """Open a socket for `name`, as the seed's `/ws/chat/:id?userId=…` route does."""
    opts = UpgradeOpts(
        connection=ConnectionInit(
            id=name,
            tags=[f"user:{name}"],
            initial_state=ChatConnection(user_id=name, joined_at=rt.clock.now_ms()),
        )
    )
    return await run_promise(rt.testing_connect(Chat, ROOM, opts))


@pytest.mark.anyio
async def test_five_clients_chat_in_one_room() -> None:
    rt = make_in_memory_socket_runtime(config)
    chat = rt.room("chat")

    # -- Before anyone arrives, the room has no state and no connections. ------------
    assert await run_promise(chat.get_state(ROOM)) is None
    assert await run_promise(chat.get_connections(ROOM)) == []

    # -- Alice opens the room: on_connect creates its state. --------------------------
    alice = await join(rt, "alice")
    assert alice.id == "alice"
    assert alice.tags == ("user:alice",)
    assert alice.is_open()
    assert alice.received == []  # nobody else was there to hear about it
    assert await run_promise(chat.get_state(ROOM)) == ChatState(created_at=START_MS, message_count=0)

    # -- Bob, Carol, Dave and Eve join, one minute apart. ----------------------------
    # UserJoined goes to everyone already there, never to the one who joins.
    clients = {"alice": alice}
    for name in NAMES[1:]:
        await run_promise(rt.advance("1 minute"))
        clients[name] = await join(rt, name)
    bob, carol, dave, eve = clients["bob"], clients["carol"], clients["dave"], clients["eve"]

    assert alice.received == [UserJoined(user_id=n) for n in ["bob", "carol", "dave", "eve"]]
    assert bob.received == [UserJoined(user_id=n) for n in ["carol", "dave", "eve"]]
    assert carol.received == [UserJoined(user_id=n) for n in ["dave", "eve"]]
    assert dave.received == [UserJoined(user_id="eve")]
    assert eve.received == []

    # The room state was created once, by Alice; later joins did not reset it.
    assert await run_promise(chat.get_state(ROOM)) == ChatState(created_at=START_MS, message_count=0)

    # -- The direct API sees the five connections, in join order. ---------------------
    infos = await run_promise(chat.get_connections(ROOM))
    assert [i.id for i in infos] == NAMES
    assert [i.tags for i in infos] == [(f"user:{n}",) for n in NAMES]
    assert [i.state.user_id for i in infos] == NAMES
    assert [i.state.joined_at for i in infos] == [START_MS + k * 60_000 for k in range(5)]

    # ... and filters them by tag.
    carols = await run_promise(chat.get_connections(ROOM, "user:carol"))
    carol_state = ChatConnection(user_id="carol", joined_at=START_MS + 120_000)
    assert [(i.id, i.state) for i in carols] == [("carol", carol_state)]
    assert await run_promise(chat.get_connections(ROOM, "user:mallory")) == []

    # Forget the joins; from here on each check looks at what arrives next.
    seen = {name: len(c.received) for name, c in clients.items()}

    def new(client: ChatClient) -> list[Message | UserJoined | UserLeft | TypingBroadcast]:
        got = client.received[seen[client.id] :]
        seen[client.id] = len(client.received)
        return got

    now = START_MS + 4 * 60_000

    # -- Alice says hi: the Message fans out to all five, Alice included. ------------
    await run_promise(alice.receive(Say(text="hi all")))
    hi = Message(text="hi all", user_id="alice", ts=now)
    for client in clients.values():
        assert new(client) == [hi], client.id

    # On the wire the message carries its "_tag", and was encoded once for everyone.
    assert json.loads(eve.raw_received[-1]) == {"_tag": "Message", "text": "hi all", "userId": "alice", "ts": now}
    assert len({c.raw_received[-1] for c in clients.values()}) == 1

    # -- Bob and Eve answer; everyone sees both, in the order they were said. --------
    await run_promise(bob.receive(Say(text="hey alice")))
    await run_promise(eve.receive(Say(text="hello!")))
    answers = [Message(text="hey alice", user_id="bob", ts=now), Message(text="hello!", user_id="eve", ts=now)]
    for client in clients.values():
        assert new(client) == answers, client.id

    # -- Carol starts typing: everyone but Carol is told. -----------------------------
    await run_promise(carol.receive(Typing()))
    assert new(carol) == []
    for name in ["alice", "bob", "dave", "eve"]:
        assert new(clients[name]) == [TypingBroadcast(user_id="carol")], name

    # Typing does not count as a message.
    state = await run_promise(chat.get_state(ROOM))
    assert state is not None
    assert state.message_count == 3

    # -- The server speaks (POST /api/chat/room-1/say): no connection, "system". ------
    await run_promise(rt.advance("30 seconds"))
    await run_promise(chat.send(ROOM, Say(text="maintenance at noon")))
    notice = Message(text="maintenance at noon", user_id="system", ts=now + 30_000)
    for client in clients.values():
        assert new(client) == [notice], client.id

    state = await run_promise(chat.get_state(ROOM))
    assert state == ChatState(created_at=START_MS, message_count=4)

    # -- A bad frame from Dave is dropped: nobody hears it, his socket stays open. ----
    await run_promise(dave.receive_raw({"_tag": "BadType"}))
    await run_promise(dave.receive_raw("not json at all"))
    assert dave.is_open()
    assert all(new(client) == [] for client in clients.values())
    assert await run_promise(chat.get_state(ROOM)) == state

    # -- Dave leaves: the other four see UserLeft, Dave does not. -------------------
    await run_promise(dave.close(1000, "bye"))
    assert not dave.is_open()
    assert new(dave) == []
    for name in ["alice", "bob", "carol", "eve"]:
        assert new(clients[name]) == [UserLeft(user_id="dave")], name

    infos = await run_promise(chat.get_connections(ROOM))
    assert [i.id for i in infos] == ["alice", "bob", "carol", "eve"]
    assert await run_promise(chat.get_connections(ROOM, "user:dave")) == []

    # -- Life goes on without Dave: he hears nothing more. ------------------------------
    await run_promise(carol.receive(Say(text="bye dave")))
    bye = Message(text="bye dave", user_id="carol", ts=now + 30_000)
    assert new(dave) == []
    for name in ["alice", "bob", "carol", "eve"]:
        assert new(clients[name]) == [bye], name

    # -- Everyone else leaves, one by one; the last one out hears nothing. -----------
    await run_promise(alice.close(1000, "bye"))
    await run_promise(bob.close(1000, "bye"))
    await run_promise(carol.close(1000, "bye"))
    assert new(eve) == [UserLeft(user_id=n) for n in ["alice", "bob", "carol"]]
    assert new(carol) == [UserLeft(user_id=n) for n in ["alice", "bob"]]
    assert new(bob) == [UserLeft(user_id="alice")]
    assert new(alice) == []
    await run_promise(eve.close(1000, "bye"))
    assert new(eve) == []
    assert not any(c.is_open() for c in clients.values())
    assert await run_promise(chat.get_connections(ROOM)) == []

    # -- The room state outlives its connections. --------------------------------------
    assert await run_promise(chat.get_state(ROOM)) == ChatState(created_at=START_MS, message_count=5)

    # Totals per client over the whole story (joins + messages + typing + leaves).
    assert {name: len(c.received) for name, c in clients.items()} == {
        "alice": 4 + 5 + 1 + 1,
        "bob": 3 + 5 + 1 + 2,
        "carol": 2 + 5 + 0 + 3,
        "dave": 1 + 4 + 1 + 0,
        "eve": 0 + 5 + 1 + 4,
    }
