"""The typed client across a server restart: what the browser test does with two tabs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from durable_effect.sockets.client import connect
from durable_effect.sockets.server import SQLiteStorage
from examples.chat.registry import Chat, Message, Say
from tests.server.server_helpers import TRANSPORTS, free_port, serve
from tests.server.trusting_chat import make_server

pytestmark = pytest.mark.anyio


async def until(check: object, what: str) -> None:
    for _ in range(1000):
        if callable(check) and check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_reconnects_to_the_restarted_server_through_503s(transport: str, tmp_path: Path) -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws/chat/lobby?userId=ann"
    first = make_server(SQLiteStorage(tmp_path / "chat.db"))
    async with serve(first, on=transport, port=port):
        ann = await connect(url, Chat, min_backoff=0.02, max_backoff=0.05)
        first.shutdown()  # 1001 to ann; her reconnects are refused with 503 until the process is gone
        await until(lambda: ann.close_code == 503, "a reconnect refused with 503")
        assert not ann.is_closed()  # still trying
        await ann.send(Say(text="typed while down"))

    async with serve(make_server(SQLiteStorage(tmp_path / "chat.db")), on=transport, port=port):
        await until(lambda: ann.state == "open" and ann.reconnects == 1, "reconnected")
        got = await asyncio.wait_for(ann.recv(), 5)
        assert isinstance(got, Message) and (got.text, got.user_id) == ("typed while down", "ann")
        await ann.close()
