"""The seed's chat story over real WebSockets, served by the example chat server (users with signed tokens)."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack

import pytest
from websockets.asyncio.client import ClientConnection, connect

from durable_effect.sockets.server import MemoryStorage
from examples.chat.identity import sign
from examples.chat.server import make_server

from .server_helpers import http, nothing_more, raise_nofile, recv, serve

USERS = ["alice", "bob", "carol", "dave", "eve"]


@pytest.mark.anyio
async def test_chat_story_over_real_websockets() -> None:
    raise_nofile()
    server = make_server(MemoryStorage())
    async with serve(server) as addr, AsyncExitStack() as stack:
        api = f"http://{addr}/api/chat/lobby"
        status, state = await http("GET", f"{api}/state")
        assert status == 200
        assert state is None

        clients: dict[str, ClientConnection] = {}
        for name in USERS:
            ws = await stack.enter_async_context(connect(f"ws://{addr}/ws/chat/lobby?token={sign(name)}"))
            clients[name] = ws
            # every earlier user hears this one join; the joiner does not hear itself
            for earlier in USERS[: USERS.index(name)]:
                msg = await recv(clients[earlier])
                assert msg == {"_tag": "UserJoined", "userId": name}
        for ws in clients.values():
            await nothing_more(ws, 0.1)

        status, state = await http("GET", f"{api}/state")
        assert status == 200
        assert state["messageCount"] == 0
        assert state["createdAt"] > 0

        # Say fans out to all five, in order
        await clients["alice"].send(json.dumps({"_tag": "Say", "text": "hello"}))
        await clients["bob"].send(json.dumps({"_tag": "Say", "text": "hi alice"}))
        for name, ws in clients.items():
            first = await recv(ws)
            second = await recv(ws)
            assert (first["_tag"], first["text"], first["userId"]) == ("Message", "hello", "alice"), name
            assert (second["_tag"], second["text"], second["userId"]) == ("Message", "hi alice", "bob"), name
            assert second["ts"] >= first["ts"]

        # Typing reaches everyone but the sender
        await clients["carol"].send(json.dumps({"_tag": "Typing"}))
        for name, ws in clients.items():
            if name == "carol":
                continue
            assert await recv(ws) == {"_tag": "Typing", "userId": "carol"}
        await nothing_more(clients["carol"])

        # the direct API over HTTP: the message comes from "system"
        status, body = await http("POST", f"{api}/send", {"_tag": "Say", "text": "maintenance at noon"})
        assert status == 200
        assert body == {"status": "ok"}
        for ws in clients.values():
            msg = await recv(ws)
            assert (msg["_tag"], msg["text"], msg["userId"]) == ("Message", "maintenance at noon", "system")

        status, state = await http("GET", f"{api}/state")
        assert status == 200
        assert state["messageCount"] == 3

        status, conns = await http("GET", f"{api}/connections")
        assert status == 200
        assert sorted(c["id"] for c in conns) == USERS
        status, conns = await http("GET", f"{api}/connections?tag=user:alice")
        assert status == 200
        assert len(conns) == 1
        assert conns[0]["id"] == "alice"
        assert conns[0]["tags"] == ["user:alice"]
        assert conns[0]["state"]["userId"] == "alice"

        # disconnects: the rest hear UserLeft
        await clients["eve"].close()
        for name in ["alice", "bob", "carol", "dave"]:
            assert await recv(clients[name]) == {"_tag": "UserLeft", "userId": "eve"}
        await clients["dave"].close()
        for name in ["alice", "bob", "carol"]:
            assert await recv(clients[name]) == {"_tag": "UserLeft", "userId": "dave"}

        status, conns = await http("GET", f"{api}/connections")
        assert sorted(c["id"] for c in conns) == ["alice", "bob", "carol"]
        status, conns = await http("GET", f"{api}/connections?tag=user:eve")
        assert (status, conns) == (200, [])

        # the remaining ones keep talking
        await clients["carol"].send(json.dumps({"_tag": "Say", "text": "still here"}))
        for name in ["alice", "bob", "carol"]:
            msg = await recv(clients[name])
            assert (msg["text"], msg["userId"]) == ("still here", "carol")
        status, state = await http("GET", f"{api}/state")
        assert state["messageCount"] == 4
