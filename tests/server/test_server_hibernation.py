"""Hibernation by eviction on the real server: idle instances are dropped and
rehydrate from their sockets' attachments on the next frame."""

from __future__ import annotations

import asyncio
import json

import anyio
import pytest
from websockets.asyncio.client import connect

from durable_effect.sockets.server import MemoryStorage, SocketServer, make_socket_server
from examples.chat.handlers import config as chat_config
from tests.server.trusting_chat import upgrade_options as chat_upgrade

from .server_helpers import http, recv, recv_tag, serve


async def wait_unloaded(server: SocketServer, room: str, id: str, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while server.is_loaded(room, id):
            await asyncio.sleep(0.05)


def chat_server(hibernate_after: float) -> SocketServer:
    return make_socket_server(
        chat_config, storage=MemoryStorage(), upgrade_options=chat_upgrade, hibernate_after=hibernate_after
    )


@pytest.mark.anyio
async def test_idle_instance_is_evicted_and_wakes_with_the_right_connection() -> None:
    server = chat_server(0.2)
    async with serve(server) as addr:
        url = f"ws://{addr}/ws/chat/hib"
        async with connect(f"{url}?userId=alice") as alice, connect(f"{url}?userId=bob") as bob:
            assert await recv(alice) == {"_tag": "UserJoined", "userId": "bob"}
            assert server.is_loaded("chat", "hib")
            await wait_unloaded(server, "chat", "hib")

            # bob's frame wakes the instance; ctx.connection is bob, from his attachment
            await bob.send(json.dumps({"_tag": "Say", "text": "after sleep"}))
            for ws in (alice, bob):
                msg = await recv(ws)
                assert (msg["_tag"], msg["text"], msg["userId"]) == ("Message", "after sleep", "bob")
            assert server.is_loaded("chat", "hib")

            await wait_unloaded(server, "chat", "hib")
            await alice.send(json.dumps({"_tag": "Typing"}))
            assert await recv(bob) == {"_tag": "Typing", "userId": "alice"}

            await wait_unloaded(server, "chat", "hib")
            status, conns = await http("GET", f"http://{addr}/api/chat/hib/connections")
            assert status == 200
            assert sorted((c["id"], c["tags"][0], c["state"]["userId"]) for c in conns) == [
                ("alice", "user:alice", "alice"),
                ("bob", "user:bob", "bob"),
            ]
            # state survived eviction (it lives in storage)
            status, state = await http("GET", f"http://{addr}/api/chat/hib/state")
            assert state["messageCount"] == 1

            # a close after eviction still runs on_close with the right connection
            await wait_unloaded(server, "chat", "hib")
            await bob.close()
            assert await recv(alice) == {"_tag": "UserLeft", "userId": "bob"}


@pytest.mark.anyio
async def test_hibernate_directly() -> None:
    server = chat_server(3600.0)
    async with serve(server) as addr:
        url = f"ws://{addr}/ws/chat/direct"
        assert server.hibernate("chat", "direct") is False  # nothing loaded yet
        async with connect(f"{url}?userId=carol") as carol, connect(f"{url}?userId=dave") as dave:
            assert await recv(carol) == {"_tag": "UserJoined", "userId": "dave"}
            assert server.hibernate("chat", "direct") is True
            assert not server.is_loaded("chat", "direct")
            await carol.send(json.dumps({"_tag": "Say", "text": "woken"}))
            msg = await recv_tag(dave, "Message")
            assert (msg["text"], msg["userId"]) == ("woken", "carol")
            msg = await recv_tag(carol, "Message")
            assert msg["userId"] == "carol"
            assert server.is_loaded("chat", "direct")
            # the direct API also wakes it; "system" since no connection sent it
            assert server.hibernate("chat", "direct") is True
            status, _ = await http("POST", f"http://{addr}/api/chat/direct/send", {"_tag": "Say", "text": "api"})
            assert status == 200
            assert (await recv(carol))["userId"] == "system"
            assert (await recv(dave))["userId"] == "system"
            status, conns = await http("GET", f"http://{addr}/api/chat/direct/connections?tag=user:dave")
            assert [c["id"] for c in conns] == ["dave"]
