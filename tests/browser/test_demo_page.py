"""The demo page in headless Chromium, driven over the DevTools protocol.

Two pages join the chat; one types and sends, the other shows the typing
indicator, the message and who is online. Needs Debian's `chromium` (CI
installs it); without it the test is skipped and says so.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from durable_effect.sockets.server import MemoryStorage
from examples.chat.server import make_server
from tests.server.server_helpers import TRANSPORTS, free_port, serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium: apt-get install chromium"),
]


def http(method: str, url: str) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as response:
        return json.loads(response.read())


class Page:
    """One browser tab, spoken to over its DevTools WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: object) -> Any:
        msg_id = next(self.ids)
        await self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if reply.get("id") == msg_id:
                return reply.get("result", {})

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    async def until(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll a JS expression until it is truthy."""
        for _ in range(int(timeout / 0.05)):
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"never became true: {expression}")


@pytest.fixture(params=TRANSPORTS)
async def site(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The demo server on each transport."""
    async with serve(make_server(MemoryStorage()), on=request.param) as addr:
        yield f"http://{addr}"


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[str]:
    assert CHROMIUM is not None
    port = free_port()
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--remote-debugging-port={port}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    devtools = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                await asyncio.to_thread(http, "GET", f"{devtools}/json/version")
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield devtools
    finally:
        proc.terminate()
        proc.wait(10)


async def open_page(devtools: str, url: str) -> Page:
    target = await asyncio.to_thread(http, "PUT", f"{devtools}/json/new?{url}")
    page = Page(await connect(target["webSocketDebuggerUrl"], max_size=None))
    await page.until("document.readyState === 'complete' && !!document.getElementById('join')")
    return page


async def join(page: Page, name: str) -> None:
    await page.js(f"document.getElementById('name').value = {json.dumps(name)}")
    await page.js("document.getElementById('join').requestSubmit()")
    await page.until("!document.getElementById('text').disabled")


async def test_two_pages_chat(site: str, browser: str) -> None:
    ann = await open_page(browser, site + "/")
    bob = await open_page(browser, site + "/")
    await join(ann, "ann")
    await join(bob, "bob")

    # Who is online: each page lists both.
    await ann.until("document.getElementById('online').textContent.includes('bob')")
    online = await bob.until("document.getElementById('online').textContent")
    assert "ann" in online and "bob (you)" in online

    # Ann types: Bob sees the indicator.
    await ann.js("document.getElementById('text').value = 'hel'")
    await ann.js("document.getElementById('text').dispatchEvent(new Event('input'))")
    typing = await bob.until("document.getElementById('typing').textContent")
    assert typing == "ann is typing…"

    # Ann sends: Bob's log shows the message.
    await ann.js("document.getElementById('text').value = 'hello from the browser'")
    await ann.js("document.getElementById('say').requestSubmit()")
    await bob.until("document.getElementById('log').textContent.includes('ann: hello from the browser')")
    assert await ann.until("document.getElementById('log').textContent.includes('ann: hello from the browser')")

    # The server saw it too.
    state = await asyncio.to_thread(http, "GET", f"{site}/api/chat/lobby/state")
    assert state["messageCount"] == 1

    # Bob leaves: Ann's list drops him.
    await bob.js("ws.close(1000, 'bye')")
    await ann.until("!document.getElementById('online').textContent.includes('bob')")
    assert await ann.until("document.getElementById('log').textContent.includes('bob left')")
    await ann.ws.close()
    await bob.ws.close()
