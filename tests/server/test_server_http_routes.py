"""The HTTP routes of the ASGI app, over a real socket."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import anyio
import pytest
from websockets.asyncio.client import connect

from durable_effect.sockets.server import MemoryStorage
from examples.chat.server import STATIC, make_server

from .server_helpers import http, recv, serve
from .server_rooms import build


@pytest.mark.anyio
async def test_http_routes() -> None:
    server = build()
    async with serve(server) as addr:
        api = f"http://{addr}/api/notes/n1"

        # state is null before the first save
        assert await http("GET", f"{api}/state") == (200, None)
        assert await http("GET", f"{api}/connections") == (200, [])

        # a body that is not the event schema: 422 with a JSON error
        status, body = await http("POST", f"{api}/send", {"_tag": "Nope"})
        assert status == 422
        assert isinstance(body["error"]["_tag"], str)
        assert body["error"]["message"]
        status, body = await http("POST", f"{api}/send", {"_tag": "Add"})  # missing field
        assert status == 422
        # a body that is not JSON at all: 400
        status, body = await http("POST", f"{api}/send", raw=b"{not json")
        assert status == 400
        assert body["error"]["_tag"] == "BadRequest"
        status, body = await http("POST", f"{api}/broadcast", raw=b"\xff\xfe")
        assert status == 400
        # nothing was saved by the refused requests
        assert await http("GET", f"{api}/state") == (200, None)

        # unknown room and unknown routes: 404
        status, body = await http("GET", f"http://{addr}/api/nosuchroom/n1/state")
        assert status == 404
        assert body["error"]["_tag"]
        status, _ = await http("POST", f"http://{addr}/api/nosuchroom/n1/send", {"_tag": "Add", "text": "x"})
        assert status == 404
        status, _ = await http("GET", f"{api}/nosuchaction")
        assert status == 404
        status, _ = await http("GET", f"http://{addr}/elsewhere")
        assert status == 404

        async with connect(f"ws://{addr}/ws/notes/n1?name=ann&id=ann") as ws:
            # a valid send runs on_event and reaches the socket
            assert await http("POST", f"{api}/send", {"_tag": "Add", "text": "hi"}) == (200, {"status": "ok"})
            assert await recv(ws) == {"_tag": "Added", "text": "hi", "by": "api", "count": 1}
            status, state = await http("GET", f"{api}/state")
            assert status == 200
            assert state == {"count": 1, "last": "hi", "marker": "", "alarms": 0}

            # broadcast: 200 and delivered
            msg = {"_tag": "Added", "text": "from outside", "by": "ops", "count": 0}
            assert await http("POST", f"{api}/broadcast", msg) == (200, {"status": "ok"})
            assert await recv(ws) == msg
            # a broadcast not in the broadcast schema is refused
            status, _ = await http("POST", f"{api}/broadcast", {"_tag": "Add", "text": "x"})
            assert status == 422

            # alarm: runs on_alarm now
            assert await http("POST", f"{api}/alarm", None) == (200, {"status": "ok"})
            status, state = await http("GET", f"{api}/state")
            assert state["marker"] == "alarm fired"
            assert state["alarms"] == 1

            status, conns = await http("GET", f"{api}/connections?tag=name:ann")
            assert status == 200
            assert conns == [{"id": "ann", "tags": ["name:ann"], "state": {"name": "ann"}}]
            assert await http("GET", f"{api}/connections?tag=name:bob") == (200, [])

            # the socket is still fine
            await ws.send(json.dumps({"_tag": "Who"}))
            assert await recv(ws) == {"_tag": "Echo", "id": "ann", "name": "ann"}


def _get_raw(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status), str(resp.headers.get("content-type")), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), str(exc.headers.get("content-type")), exc.read()


@pytest.mark.anyio
async def test_static_files_of_the_chat_example() -> None:
    async with serve(make_server(MemoryStorage())) as addr:
        status, kind, body = await anyio.to_thread.run_sync(_get_raw, f"http://{addr}/")
        assert status == 200
        assert kind.startswith("text/html")
        assert body == (STATIC / "index.html").read_bytes()
        status, _, _ = await anyio.to_thread.run_sync(_get_raw, f"http://{addr}/nope.html")
        assert status == 404
        status, _, _ = await anyio.to_thread.run_sync(_get_raw, f"http://{addr}/%2e%2e/server.py")
        assert status == 404
