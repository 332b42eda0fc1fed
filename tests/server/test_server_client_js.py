"""The browser client is served by every server at a stable path, static directory or not."""

from __future__ import annotations

import urllib.error
import urllib.request

import anyio
import pytest

from durable_effect.sockets.server.app import BROWSER_DIR

from .server_helpers import serve
from .server_rooms import build


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["content-type"], resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["content-type"], exc.read()


@pytest.mark.anyio
async def test_client_js_is_served_as_javascript() -> None:
    async with serve(build()) as addr:  # a server without a static directory
        status, kind, body = await anyio.to_thread.run_sync(get, f"http://{addr}/_durable_effect/client.js")
        assert status == 200
        assert kind.endswith("javascript")  # what a browser needs to run it as a module
        assert body == (BROWSER_DIR / "client.js").read_bytes()
        assert b"export function connect(" in body

        for outside in ("/_durable_effect/../app.py", "/_durable_effect/", "/_durable_effect/nope.js"):
            status, _, _ = await anyio.to_thread.run_sync(get, f"http://{addr}{outside}")
            assert status == 404, outside
