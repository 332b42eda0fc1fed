"""`workers.asgi`, as the test harness installs it in Pyodide: `await asgi.fetch(app, request, env)`
serves one HTTP request with an ASGI app, as the Python Workers SDK does.

The scope carries `env` (the Worker's bindings) like the SDK's; the whole body
is handed to the app at once and the whole response is collected. No lifespan,
no streaming and no WebSockets: enough for REST routes. The harness copies this
file into Pyodide as `workers/asgi.py`; it is not imported on CPython.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote, urlsplit

from .workers_shim import Request, Response

Message = MutableMapping[str, Any]

__all__ = ["fetch"]


async def fetch(
    app: Callable[[Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]],
    req: Request,
    env: Any,
    ctx: Any = None,
) -> Response:
    # The HTTP connection scope of the ASGI spec, plus the SDK's "env".
    url = urlsplit(req.url)
    scope: Message = dict(
        type="http",
        asgi={"spec_version": "2.0", "version": "3.0"},
        http_version="1.1",
        method=str(req.method),
        scheme=url.scheme,
        path=unquote(url.path),
        raw_path=url.path.encode(),
        query_string=url.query.encode(),
        headers=[(name.lower().encode(), value.encode()) for name, value in req.headers.items()],
        env=env,
    )
    body = await req.bytes()
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    await incoming.put({"type": "http.request", "body": body, "more_body": False})
    done = asyncio.Event()
    status = 500
    headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> Message:
        if not incoming.empty():
            return await incoming.get()
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers.update((k.decode(), v.decode()) for k, v in message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    if not done.is_set():
        raise RuntimeError("the ASGI app did not send a complete response")
    return Response(b"".join(chunks), status=status, headers=headers)
