"""A WebSocket client that can send what a well-behaved one never would: the
`websockets` sans-I/O client protocol over a bare asyncio stream."""

from __future__ import annotations

import asyncio
import json

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

TIMEOUT = 5.0


class RefusedError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"upgrade refused with {status}")
        self.status = status


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proto: ClientProtocol) -> None:
        self.reader = reader
        self.writer = writer
        self.proto = proto
        self.frames: list[Frame] = []

    @classmethod
    async def connect(cls, addr: str, path: str) -> RawClient:
        host, _, port = addr.partition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        proto = ClientProtocol(parse_uri(f"ws://{addr}{path}"), max_size=None)
        proto.send_request(proto.connect())
        client = cls(reader, writer, proto)
        client.flush()
        while True:
            for event in await client._events():
                if isinstance(event, Response):
                    if event.status_code != 101:
                        raise RefusedError(event.status_code)
                    return client

    def flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.writer.write(data)

    async def _events(self) -> list[object]:
        data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
        if data:
            self.proto.receive_data(data)
        else:
            self.proto.receive_eof()
        events: list[object] = list(self.proto.events_received())
        self.flush()
        self.frames += [e for e in events if isinstance(e, Frame)]
        return events

    async def next_text(self) -> dict[str, object]:
        """The next text frame, as JSON."""
        while True:
            for i, frame in enumerate(self.frames):
                if frame.opcode is Opcode.TEXT:
                    del self.frames[i]
                    value = json.loads(bytes(frame.data))
                    assert isinstance(value, dict)
                    return value
            if self.proto.close_rcvd is not None:
                raise AssertionError(f"closed with {self.proto.close_rcvd.code} before a text frame")
            await self._events()

    async def closed_with(self) -> int:
        """Read until the server's close frame; its code."""
        while self.proto.close_rcvd is None:
            if self.reader.at_eof():
                raise AssertionError("connection ended without a close frame")
            await self._events()
        return self.proto.close_rcvd.code

    async def pong(self) -> bytes:
        while True:
            for i, frame in enumerate(self.frames):
                if frame.opcode is Opcode.PONG:
                    del self.frames[i]
                    return bytes(frame.data)
            await self._events()

    def close(self) -> None:
        self.writer.close()
