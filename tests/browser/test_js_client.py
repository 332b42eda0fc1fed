"""The browser client (`/_durable_effect/client.js`) in headless Chromium.

The same plan as the Python client's tests (tests/client/test_room_client.py):
typed send and receive, reconnecting after a drop with the sends made while
away delivered after it, a bounded send buffer, typed errors once closed, no
reconnect after a final close code, and a refused first connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from durable_effect.sockets.server import MemoryStorage, SocketServer
from tests.server.server_helpers import TRANSPORTS, serve
from tests.server.trusting_chat import make_server

from .devtools import CHROMIUM, SKIP_REASON, Page, open_page

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)]


@pytest.fixture(params=TRANSPORTS)
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SocketServer, str]]:
    """The chat server on each transport."""
    app = make_server(MemoryStorage())
    async with serve(app, on=request.param) as addr:
        yield app, f"http://{addr}"


async def page_with_client(browser: str, site: str) -> Page:
    """A tab on the server's origin with the client module loaded as `C`."""
    page = await open_page(browser, f"{site}/")
    await page.js("import(new URL('/_durable_effect/client.js', location.href)).then((m) => { window.C = m; })")
    return page


def drop(app: SocketServer, room_id: str, user: str, code: int = 1011) -> None:
    """The server closes `user`'s socket (1011 by default, a close the client comes back from)."""
    for sock in app.host("chat", room_id).sockets():
        if f'"{user}"' in (sock.attachment() or ""):
            sock.close(code, "closed by the server")


async def test_send_and_receive_typed_messages(served: tuple[SocketServer, str], browser: str) -> None:
    _, site = served
    page = await page_with_client(browser, site)
    got = await page.js(
        """(async () => {
            const ann = await C.connect(C.roomPath("chat", "r1", { userId: "ann" }));
            const bob = await C.connect(C.roomPath("chat", "r1", { userId: "bob" }));
            const seen = [await ann.recv()];
            bob.send({ _tag: "Say", text: "hi" });
            seen.push(await ann.recv(), await bob.recv());
            bob.close();
            for await (const msg of ann) { seen.push(msg); break; }
            ann.close();
            return { seen, state: bob.state, url: ann.url };
        })()"""
    )
    assert [m["_tag"] for m in got["seen"]] == ["UserJoined", "Message", "Message", "UserLeft"]
    assert got["seen"][0] == {"_tag": "UserJoined", "userId": "bob"}
    assert (got["seen"][1]["text"], got["seen"][1]["userId"]) == ("hi", "bob")
    assert got["state"] == "closed"
    assert got["url"] == site.replace("http:", "ws:") + "/ws/chat/r1?userId=ann"


async def test_reconnects_after_a_drop_and_flushes_buffered_sends(
    served: tuple[SocketServer, str], browser: str
) -> None:
    app, site = served
    page = await page_with_client(browser, site)
    await page.js(
        """(async () => {
            window.events = [];
            window.ann = await C.connect(C.roomPath("chat", "r2", { userId: "ann" }), {
                minBackoff: 50,
                onDisconnect: ({ code }) => {
                    // Sent while away: it waits in the buffer for the reconnect.
                    ann.send({ _tag: "Say", text: "while away" });
                    events.push(`disconnect ${code}, ${ann.buffered} waiting`);
                },
                onOpen: ({ reconnect }) => events.push(reconnect ? "reconnect" : "open"),
            });
            window.bob = await C.connect(C.roomPath("chat", "r2", { userId: "bob" }));
            return (await ann.recv())._tag;
        })()"""
    )
    drop(app, "r2", "ann")
    await page.until("ann.reconnects === 1 && ann.state === 'open'")
    said = await page.js(
        """(async () => {
            for await (const msg of bob) if (msg._tag === "Message") return msg;
        })()"""
    )
    assert (said["text"], said["userId"]) == ("while away", "ann")
    assert await page.js("events") == ["open", "disconnect 1011, 1 waiting", "reconnect"]
    assert await page.js("ann.buffered") == 0


async def test_the_send_buffer_is_bounded(served: tuple[SocketServer, str], browser: str) -> None:
    app, site = served
    page = await page_with_client(browser, site)
    await page.js(
        """(async () => {
            window.ann = await C.connect(C.roomPath("chat", "r3", { userId: "ann" }), {
                minBackoff: 60000, maxBuffered: 2,
            });
        })()"""
    )
    drop(app, "r3", "ann")
    await page.until("ann.state === 'connecting'")
    full = await page.js(
        """(() => {
            ann.send({ _tag: "Say", text: "one" });
            ann.send({ _tag: "Say", text: "two" });
            try { ann.send({ _tag: "Say", text: "three" }); } catch (err) {
                return [err instanceof C.SendBufferFullError, err._tag, err.limit, ann.buffered];
            }
        })()"""
    )
    assert full == [True, "SendBufferFullError", 2, 2]


async def test_closed_connection_raises_typed_errors(served: tuple[SocketServer, str], browser: str) -> None:
    _, site = served
    page = await page_with_client(browser, site)
    got = await page.js(
        """(async () => {
            const ann = await C.connect(C.roomPath("chat", "r4", { userId: "ann" }));
            ann.close();
            const out = { state: ann.state, closed: await ann.closed };
            try { ann.send({ _tag: "Say", text: "late" }); } catch (err) { out.send = err._tag; }
            out.recv = await ann.recv().then(() => "resolved", (err) => err instanceof C.ClientClosedError);
            out.iterated = [];
            for await (const msg of ann) out.iterated.push(msg);
            return out;
        })()"""
    )
    assert got == {
        "state": "closed",
        "closed": {"code": 1000, "reason": ""},
        "send": "ClientClosedError",
        "recv": True,
        "iterated": [],
    }


@pytest.mark.parametrize("code", [1000, 1008, 1012])
async def test_a_final_close_code_is_not_fought(served: tuple[SocketServer, str], browser: str, code: int) -> None:
    app, site = served
    page = await page_with_client(browser, site)
    await page.js(
        """(async () => {
            window.ann = await C.connect(C.roomPath("chat", "r5", { userId: "ann" }), { minBackoff: 10 });
        })()"""
    )
    drop(app, "r5", "ann", code)
    got = await page.js(
        """(async () => {
            const closed = await ann.closed;
            await new Promise((resolve) => setTimeout(resolve, 200));  // a reconnect would have happened by now
            return { closed, state: ann.state, reconnects: ann.reconnects };
        })()"""
    )
    assert got == {"closed": {"code": code, "reason": "closed by the server"}, "state": "closed", "reconnects": 0}


@pytest.mark.parametrize("path", ["/ws/nosuchroom/r1?userId=ann", "/ws/chat/r1?userId=" + "x" * 65])
async def test_a_refused_first_connection_is_a_connect_error(
    served: tuple[SocketServer, str], browser: str, path: str
) -> None:
    _, site = served
    page = await page_with_client(browser, site)
    got = await page.js(
        f"C.connect({json.dumps(path)}).then(() => 'open', (err) => [err instanceof C.ConnectError, err._tag])"
    )
    assert got == [True, "ConnectError"]


async def test_binary_frames_are_json_and_undecodable_ones_are_dropped(
    served: tuple[SocketServer, str], browser: str
) -> None:
    _, site = served
    page = await page_with_client(browser, site)
    got = await page.js(
        """(async () => {
            let socket = null;
            class Fake extends EventTarget {  // the `WebSocket` option: any class with this shape
                constructor(url) {
                    super();
                    socket = this;
                    this.readyState = 0;
                    setTimeout(() => { this.readyState = 1; this.dispatchEvent(new Event("open")); });
                }
                send() {}
                close(code, reason) { this.dispatchEvent(new CloseEvent("close", { code, reason })); }
            }
            const conn = await C.connect("ws://example.invalid/ws/chat/r6", { WebSocket: Fake });
            const frame = (data) => socket.dispatchEvent(new MessageEvent("message", { data }));
            frame("not json");
            frame(JSON.stringify({ no: "tag" }));
            frame(new TextEncoder().encode(JSON.stringify({ _tag: "UserJoined", userId: "bob" })).buffer);
            const first = await conn.recv();
            conn.close();
            return { first, binaryType: socket.binaryType };
        })()"""
    )
    assert got == {"first": {"_tag": "UserJoined", "userId": "bob"}, "binaryType": "arraybuffer"}
