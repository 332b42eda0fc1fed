"""Helpers for the server suite: uvicorn in-process, HTTP over urllib, bounded receives."""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn
from websockets.asyncio.client import ClientConnection

from durable_effect.sockets.server import SocketServer
from durable_effect.sockets.server.native import serve_native
from durable_effect.sockets.server.uvicorn_ws import uvicorn_config

TIMEOUT = 5.0


current_uvicorn: uvicorn.Server | None = None
"""The uvicorn server `serve_asgi` runs (tests look at its connections)."""

TRANSPORTS = ["native", "asgi"]
transport = "native"
"""The transport `serve` uses; tests/server/conftest.py runs every test on each."""


@asynccontextmanager
async def serve(
    app: SocketServer, on: str | None = None, port: int = 0, *, head_timeout: float = 10.0
) -> AsyncIterator[str]:
    """Serve `app` on `port` (ephemeral by default) on transport `on` (default: the current one); yield `host:port`."""
    if (on or transport) == "native":
        async with serve_native(app, port=port, head_timeout=head_timeout) as native:
            yield f"127.0.0.1:{native.port}"
        return
    async with serve_asgi(app, port, head_timeout=head_timeout) as addr:
        yield addr


@asynccontextmanager
async def serve_asgi(app: SocketServer, port: int = 0, *, head_timeout: float = 10.0) -> AsyncIterator[str]:
    """Run `app` under uvicorn on `port` (ephemeral by default), configured as `app.run` does; yield `host:port`."""
    global current_uvicorn
    config = uvicorn_config(app, "127.0.0.1", port, log_level="warning", head_timeout=head_timeout)
    server = current_uvicorn = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        with anyio.fail_after(TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn exited before starting")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with anyio.fail_after(10):
            await task


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile(want: int = 4096) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _http_sync(method: str, url: str, body: bytes | None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=body, method=method, headers={"content-type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return int(status), json.loads(raw) if raw else None


async def http(
    method: str, url: str, payload: object = None, *, raw: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One HTTP request in a worker thread; returns (status, parsed JSON body)."""
    body = raw if raw is not None else (None if method == "GET" else json.dumps(payload).encode())
    return await anyio.to_thread.run_sync(_http_sync, method, url, body, headers)


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next frame as JSON, or fail after `timeout`."""
    frame = await asyncio.wait_for(ws.recv(), timeout)
    data = json.loads(frame)
    assert isinstance(data, dict)
    return data


async def recv_tag(ws: ClientConnection, tag: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Skip frames until one with `_tag == tag` arrives."""
    with anyio.fail_after(timeout):
        while True:
            msg = await recv(ws, timeout)
            if msg.get("_tag") == tag:
                return msg


async def nothing_more(ws: ClientConnection, wait: float = 0.2) -> None:
    """Assert no frame arrives within `wait` seconds."""
    try:
        frame = await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected frame {frame!r}")


async def wait_closed(ws: ClientConnection, timeout: float = TIMEOUT) -> int | None:
    """Drain until the socket closes; return the close code received."""
    with anyio.fail_after(timeout):
        try:
            while True:
                await ws.recv()
        except Exception:
            pass
    return ws.close_code
