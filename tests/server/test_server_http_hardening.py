"""Bad HTTP requests are answered and closed, never left hanging: a NUL in the path,
a path too long for a file name, JSON nested too deeply, an oversized head, a body
that stops arriving, and a storage that fails under a request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from durable_effect.sockets.server import MemoryStorage, make_socket_server

from .server_helpers import serve
from .server_rooms import FailingStorage, config, upgrade_options

TIMEOUT = 5.0


async def exchange(addr: str, request: bytes, *, timeout: float = TIMEOUT) -> tuple[int, bytes, bool]:
    """Send raw bytes; read the answer until the server closes (or `timeout`).
    Returns (status, body, closed): closed is False when the connection was left open."""
    host, _, port = addr.partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        data = b""
        closed = False
        with anyio.move_on_after(timeout):
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    closed = True
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
        return status, body, closed
    finally:
        writer.close()


def post(path: str, body: bytes, *, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()


@pytest.mark.anyio
async def test_bad_paths_and_deep_json_are_answered(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("hi")
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options, static_dir=tmp_path)
    async with serve(app) as addr:
        status, _, closed = await exchange(addr, get("/%00"))
        assert (status, closed) == (400, True)
        status, _, closed = await exchange(addr, get("/" + "a" * 5_000))
        assert (status, closed) == (404, True)
        status, _, closed = await exchange(addr, get("/index.html"))
        assert (status, closed) == (200, True)

        deep = b"[" * 100_000 + b"]" * 100_000
        status, body, closed = await exchange(addr, post("/api/notes/d/send", deep))
        assert (status, closed) == (400, True)
        assert b"nested" in body
        # JSON nested beyond the limit is refused even when it is short
        status, _, _ = await exchange(addr, post("/api/notes/d/broadcast", b"[" * 65 + b"]" * 65))
        assert status == 400
        # nesting inside strings does not count
        event = b'{"_tag":"Add","text":"' + b"[" * 500 + b'"}'
        status, _, _ = await exchange(addr, post("/api/notes/d/send", event))
        assert status == 200


@pytest.mark.anyio
async def test_a_stalled_body_is_answered_408_and_closed() -> None:
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options, body_timeout=0.3)
    async with serve(app) as addr:
        status, _, closed = await exchange(addr, post("/api/notes/s/send", b'{"_tag"', length=100))
        assert (status, closed) == (408, True)


@pytest.mark.anyio
async def test_an_oversized_head_is_431_however_it_arrives() -> None:
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options)
    async with serve(app) as addr:
        big = b"GET /api/notes/h/state HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 << 10) + b"\r\n\r\n"
        status, _, closed = await exchange(addr, big)  # in one write, terminator included
        assert (status, closed) == (431, True)


@pytest.mark.anyio
async def test_a_failing_storage_is_an_answer_not_silence() -> None:
    app = make_socket_server(config, storage=FailingStorage(), upgrade_options=upgrade_options)
    async with serve(app) as addr:
        with anyio.fail_after(TIMEOUT):
            status, body, _ = await exchange(addr, post("/api/notes/f/send", b'{"_tag":"Add","text":"x"}'))
            assert status == 500
            assert b"error" in body
            status, body, _ = await exchange(addr, get("/api/notes/broken/state"))
            assert status == 500
            assert b"OSError" in body  # the error's class, not its internals
            assert b"disk is gone" not in body
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"ws://{addr}/ws/notes/broken?name=ann&id=ann", open_timeout=TIMEOUT):
                    pass
            assert refused.value.response.status_code == 500
            assert b"OSError" in refused.value.response.body


@pytest.mark.anyio
async def test_an_upgrade_hook_that_raises_is_a_500_refusal() -> None:
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options)
    async with serve(app) as addr:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://{addr}/ws/notes/x?name=explode", open_timeout=TIMEOUT):
                pass
        assert refused.value.response.status_code == 500
        assert b"RuntimeError" in refused.value.response.body
        assert b"a bug in the hook" not in refused.value.response.body


@pytest.mark.anyio
async def test_debug_mode_tells_the_failure_message() -> None:
    app = make_socket_server(config, storage=FailingStorage(), upgrade_options=upgrade_options, debug=True)
    async with serve(app) as addr:
        status, body, _ = await exchange(addr, get("/api/notes/broken/state"))
        assert status == 500
        assert b"OSError: disk is gone" in body


@pytest.mark.anyio
async def test_a_stalled_head_is_answered_408_and_closed() -> None:
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options)
    async with serve(app, head_timeout=0.3) as addr:
        status, _, closed = await exchange(addr, b"GET /api/notes/h/state HTTP/1.1\r\nHost: x\r\n")
        assert (status, closed) == (408, True)
        # a request that comes in time is served, on the same kind of connection
        status, _, _ = await exchange(addr, get("/api/notes/h/state"))
        assert status == 200
