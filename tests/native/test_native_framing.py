"""Framing edge cases on the native transport (an autobahn-style subset): fragmented
messages, control frames between fragments, invalid UTF-8 (1007), oversized (1009)."""

from __future__ import annotations

import asyncio
import json

import anyio
import pytest
from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from durable_effect.sockets import EngineOptions
from durable_effect.sockets.server.native import serve_native
from tests.server.server_rooms import build

from .raw_client import RawClient, RefusedError


def add(text: str) -> bytes:
    return json.dumps({"_tag": "Add", "text": text}).encode()


@pytest.mark.anyio
async def test_fragmented_message_with_a_ping_between_fragments() -> None:
    async with serve_native(build()) as native:
        client = await RawClient.connect(f"127.0.0.1:{native.port}", "/ws/notes/frag?name=f&id=f")
        whole = add("split in three")
        client.proto.send_text(whole[:5], fin=False)
        client.proto.send_ping(b"between")
        client.proto.send_continuation(whole[5:12], fin=False)
        client.proto.send_continuation(whole[12:], fin=True)
        client.flush()
        assert await client.pong() == b"between"
        message = await client.next_text()
        assert (message["_tag"], message["text"], message["count"]) == ("Added", "split in three", 1)
        client.proto.send_binary(add("binary frame"))
        client.flush()
        assert (await client.next_text())["text"] == "binary frame"
        client.close()


@pytest.mark.anyio
async def test_invalid_utf8_closes_1007_and_changes_nothing() -> None:
    app = build()
    async with serve_native(app) as native:
        addr = f"127.0.0.1:{native.port}"
        bad = await RawClient.connect(addr, "/ws/notes/utf?name=bad&id=bad")
        good = await RawClient.connect(addr, "/ws/notes/utf?name=good&id=good")
        bad.proto.send_text(b'{"_tag":"Add","text":"\xff\xfe"}')
        bad.flush()
        assert await bad.closed_with() == 1007
        good.proto.send_text(add("still fine"))
        good.flush()
        assert (await good.next_text())["count"] == 1  # the bad frame never reached the room
        bad.close()
        good.close()


@pytest.mark.anyio
async def test_oversized_message_closes_1009_even_when_fragmented() -> None:
    app = build(options=EngineOptions(max_frame_bytes=1_000))
    async with serve_native(app) as native:
        addr = f"127.0.0.1:{native.port}"
        whole = await RawClient.connect(addr, "/ws/notes/big?name=a&id=a")
        whole.proto.send_text(add("x" * 2_000))
        whole.flush()
        assert await whole.closed_with() == 1009
        pieces = await RawClient.connect(addr, "/ws/notes/big?name=b&id=b")
        pieces.proto.send_text(b" " * 400, fin=False)
        pieces.proto.send_continuation(b" " * 400, fin=False)
        pieces.proto.send_continuation(b" " * 400, fin=False)
        pieces.flush()
        assert await pieces.closed_with() == 1009
        whole.close()
        pieces.close()


@pytest.mark.anyio
async def test_unknown_path_and_bad_handshake_are_refused() -> None:
    async with serve_native(build()) as native:
        addr = f"127.0.0.1:{native.port}"
        with pytest.raises(RefusedError) as refused:
            await RawClient.connect(addr, "/nowhere")
        assert refused.value.status == 404
        with pytest.raises(RefusedError) as refused:
            await RawClient.connect(addr, "/ws/nosuchroom/x")
        assert refused.value.status == 404
        with pytest.raises(RefusedError) as refused:
            await RawClient.connect(addr, "/ws/notes/x?name=forbidden")
        assert refused.value.status == 403


@pytest.mark.anyio
async def test_a_frame_sent_with_the_upgrade_request_is_handled_after_the_upgrade() -> None:
    async with serve_native(build()) as native:
        addr = f"127.0.0.1:{native.port}"
        uri = parse_uri(f"ws://{addr}/ws/notes/early?name=e&id=e")
        handshake = ClientProtocol(uri)
        handshake.send_request(handshake.connect())
        framer = ClientProtocol(uri, state=State.OPEN)  # frames the message before the 101 has come back
        framer.send_text(add("early bird"))
        reader, writer = await asyncio.open_connection("127.0.0.1", native.port)
        writer.write(b"".join(handshake.data_to_send() + framer.data_to_send()))
        client = RawClient(reader, writer, handshake)
        while not any(isinstance(e, Response) for e in await client._events()):
            pass
        message = await client.next_text()
        assert (message["text"], message["by"], message["count"]) == ("early bird", "e", 1)
        client.close()


@pytest.mark.anyio
async def test_a_client_that_never_finishes_its_request_is_dropped() -> None:
    async with serve_native(build(), head_timeout=0.3) as native:
        reader, writer = await asyncio.open_connection("127.0.0.1", native.port)
        writer.write(b"GET /ws/notes/x HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        with anyio.fail_after(5):
            answer = await reader.read()  # read to the end: the server closed the connection
        assert answer.startswith(b"HTTP/1.1 408")
        # A keep-alive HTTP connection left idle after its response ends the same way.
        reader, writer = await asyncio.open_connection("127.0.0.1", native.port)
        writer.write(b"GET /api/notes/x/state HTTP/1.1\r\nHost: x\r\n\r\n")
        with anyio.fail_after(5):
            data = await reader.read()
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"null")
        writer.close()
