"""permessage-deflate: off unless asked for; when on, compressed sockets frame their own
messages and uncompressed ones still share the broadcast's frame."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect

from durable_effect.sockets.server.native import serve_native
from tests.server.server_helpers import recv
from tests.server.server_rooms import build


@pytest.mark.anyio
@pytest.mark.parametrize("deflate", [False, True])
async def test_deflate_is_negotiated_only_when_enabled(deflate: bool) -> None:
    async with serve_native(build(), deflate=deflate) as native:
        url = f"ws://127.0.0.1:{native.port}/ws/notes/z"
        async with (
            connect(f"{url}?name=a&id=a", compression="deflate") as zipped,
            connect(f"{url}?name=b&id=b", compression=None) as plain,
        ):
            negotiated = zipped.response is not None and "permessage-deflate" in str(
                zipped.response.headers.get("Sec-WebSocket-Extensions", "")
            )
            assert negotiated is deflate
            text = "compress me " * 200
            await plain.send(json.dumps({"_tag": "Add", "text": text}))
            for ws in (zipped, plain):
                message = await recv(ws)
                assert (message["text"], message["by"], message["count"]) == (text, "b", 1)
            await zipped.send(json.dumps({"_tag": "Add", "text": "back"}))
            for ws in (zipped, plain):
                assert (await recv(ws))["text"] == "back"
