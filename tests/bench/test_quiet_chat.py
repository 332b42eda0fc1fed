"""The room bench/server.py connects 10,000 sockets to: the chat without join and
leave broadcasts (what the peers' servers do), and otherwise the chat as it is."""

from __future__ import annotations

import pytest

from bench.quiet_chat import config, make_server
from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, UpgradeOpts, make_in_memory_socket_runtime
from durable_effect.sockets.memory import START_MS
from durable_effect.sockets.server import MemoryStorage, Refuse, UpgradeRequest
from examples.chat.identity import sign
from examples.chat.registry import Chat, ChatConnection, ChatState, Message, Say


@pytest.mark.anyio
async def test_members_hear_every_say_and_no_joins_or_leaves() -> None:
    rt = make_in_memory_socket_runtime(config)
    clients = []
    for name in ("ann", "bob", "cy"):
        init = ConnectionInit(id=name, initial_state=ChatConnection(user_id=name, joined_at=START_MS))
        clients.append(await run_promise(rt.testing_connect(Chat, "bench", UpgradeOpts(connection=init))))
    ann, bob, cy = clients
    assert [c.received for c in clients] == [[], [], []]  # no UserJoined
    assert await run_promise(rt.room(Chat).get_state("bench")) == ChatState(created_at=START_MS, message_count=0)

    await run_promise(bob.receive(Say(text="hi")))
    said = Message(text="hi", user_id="bob", ts=START_MS)
    assert [c.received for c in clients] == [[said], [said], [said]]

    await run_promise(cy.close())
    assert [ann.received, bob.received] == [[said], [said]]  # no UserLeft


def test_upgrades_need_the_chat_token() -> None:
    hook = make_server(MemoryStorage(), secret=b"bench-secret").upgrade_options
    assert hook is not None
    good = hook(UpgradeRequest("chat", "bench", {"token": sign("ann", secret=b"bench-secret")}, {}))
    forged = hook(UpgradeRequest("chat", "bench", {"token": sign("ann", secret=b"other")}, {}))
    assert isinstance(good, UpgradeOpts) and good.connection.id == "ann"
    assert isinstance(forged, Refuse) and forged.status == 403
