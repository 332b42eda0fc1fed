"""The access log has one format on both transports: a line per HTTP request,
and open/refused/closed lines for sockets that carry the room and id."""

from __future__ import annotations

import logging
import re

import anyio
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from durable_effect.sockets.server import make_socket_server

from .server_helpers import http, serve
from .server_rooms import config, upgrade_options


@pytest.mark.anyio
async def test_one_access_line_per_request_and_socket(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "durable_effect.access"):
        async with serve(make_socket_server(config, upgrade_options=upgrade_options)) as addr:
            assert (await http("GET", f"http://{addr}/api/notes/n1/state"))[0] == 200
            assert (await http("GET", f"http://{addr}/api/notes/n1/nope"))[0] == 404
            async with connect(f"ws://{addr}/ws/notes/n1?name=ann"):
                pass
            with pytest.raises(InvalidStatus):
                async with connect(f"ws://{addr}/ws/nosuchroom/n1"):
                    pass
            with anyio.fail_after(5):
                while not any("closed" in r.getMessage() for r in caplog.records):
                    await anyio.sleep(0.01)
    lines = [r.getMessage() for r in caplog.records if r.name == "durable_effect.access"]
    patterns = [
        r'127\.0\.0\.1 "GET /api/notes/n1/state" 200 \d+\.\d ms',
        r'127\.0\.0\.1 "GET /api/notes/n1/nope" 404 \d+\.\d ms',
        r'127\.0\.0\.1 "WS /ws/notes/n1" 101 open',
        r'127\.0\.0\.1 "WS /ws/notes/n1" closed 1000',
        r"127\.0\.0\.1 \"WS /ws/nosuchroom/n1\" 404 refused: no room named 'nosuchroom'",
    ]
    for pattern in patterns:
        assert any(re.fullmatch(pattern, line) for line in lines), (pattern, lines)
    assert not [r for r in caplog.records if r.name.startswith("uvicorn.access")]


@pytest.mark.anyio
async def test_the_protocol_adds_no_bare_lines_of_its_own(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        async with serve(make_socket_server(config, upgrade_options=upgrade_options)) as addr:
            async with connect(f"ws://{addr}/ws/notes/n1?name=ann"):
                pass
            await anyio.sleep(0.1)
    server = [r for r in caplog.records if r.levelno >= logging.INFO and not r.name.startswith("websockets.client")]
    bare = [r.getMessage() for r in server if r.getMessage() in ("connection open", "connection closed")]
    assert bare == []
