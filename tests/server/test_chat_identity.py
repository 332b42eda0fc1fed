"""The chat example authenticates its connections: a name is good only with a
token the server signed (`POST /login`), on each transport."""

from __future__ import annotations

import json
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from durable_effect.sockets.server import MemoryStorage
from examples.chat.identity import sign
from examples.chat.server import make_server

from .server_helpers import http, recv, serve

pytestmark = pytest.mark.anyio
SECRET = b"the server's secret"


async def refused_status(url: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url):
            pass
    return refused.value.response.status_code


async def test_a_logged_in_user_connects_as_the_name_the_token_carries() -> None:
    async with serve(make_server(MemoryStorage(), secret=SECRET)) as addr:
        status, login = await http("POST", f"http://{addr}/login", {"name": " alice "})
        assert (status, login["userId"]) == (200, "alice")
        # the query's userId is not looked at: the token says who this is
        async with connect(f"ws://{addr}/ws/chat/lobby?userId=mallory&token={login['token']}") as alice:
            await alice.send(json.dumps({"_tag": "Say", "text": "hi"}))
            said = await recv(alice)
            assert (said["text"], said["userId"]) == ("hi", "alice")
            _, conns = await http("GET", f"http://{addr}/api/chat/lobby/connections")
            assert [(c["id"], c["tags"]) for c in conns] == [("alice", ["user:alice"])]


async def test_a_forged_missing_or_expired_token_is_refused() -> None:
    async with serve(make_server(MemoryStorage(), secret=SECRET)) as addr:
        url = f"ws://{addr}/ws/chat/lobby"
        assert await refused_status(f"{url}?userId=alice") == 401  # a claim, no token
        assert await refused_status(f"{url}?token={sign('alice', secret=b'another secret')}") == 403
        _, _, mac = sign("alice", secret=SECRET).partition(".")
        eve_payload, _, _ = sign("eve", secret=SECRET).partition(".")
        assert await refused_status(f"{url}?token={eve_payload}.{mac}") == 403  # a signature moved to another name
        assert await refused_status(f"{url}?token={sign('alice', secret=SECRET, expires_at=time.time() - 1)}") == 401
        _, conns = await http("GET", f"http://{addr}/api/chat/lobby/connections")
        assert conns == []


async def test_login_wants_a_name_by_post() -> None:
    async with serve(make_server(MemoryStorage(), secret=SECRET)) as addr:
        assert (await http("POST", f"http://{addr}/login", {"name": "  "}))[0] == 400
        assert (await http("POST", f"http://{addr}/login", {"name": "x" * 65}))[0] == 400
        assert (await http("POST", f"http://{addr}/login", raw=b"not json"))[0] == 400
        assert (await http("GET", f"http://{addr}/login"))[0] == 405


async def test_two_tabs_of_one_user_are_one_presence() -> None:
    async with serve(make_server(MemoryStorage(), secret=SECRET)) as addr:
        url = f"ws://{addr}/ws/chat/lobby"
        async with connect(f"{url}?token={sign('bob', secret=SECRET)}") as bob:
            tab1 = await connect(f"{url}?token={sign('alice', secret=SECRET)}")
            assert await recv(bob) == {"_tag": "UserJoined", "userId": "alice"}
            async with connect(f"{url}?token={sign('alice', secret=SECRET)}") as tab2:
                await tab2.send(json.dumps({"_tag": "Say", "text": "second tab"}))
                # no second UserJoined for the second tab, and both tabs stay open (no replacing)
                assert (await recv(bob))["text"] == "second tab"
                assert (await recv(tab1))["text"] == "second tab"
                await tab1.close()
                await tab2.send(json.dumps({"_tag": "Say", "text": "still here"}))
                # closing one tab does not make alice leave
                assert (await recv(bob))["text"] == "still here"
                _, conns = await http("GET", f"http://{addr}/api/chat/lobby/connections")
                assert {c["id"] for c in conns} == {"alice", "bob"}
            # her last tab closed: now she has left
            assert await recv(bob) == {"_tag": "UserLeft", "userId": "alice"}
