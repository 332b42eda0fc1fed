"""Headless Chromium over the DevTools protocol: open tabs, run JavaScript in them."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.server.server_helpers import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SKIP_REASON = "needs Debian's chromium: apt-get install chromium"


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
        """The value of `expression` (a promise is awaited); a thrown error fails the test."""
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise AssertionError(f"{expression} threw: {details.get('exception', {}).get('description', details)}")
        return result.get("result", {}).get("value")

    async def until(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll a JS expression until it is truthy."""
        for _ in range(int(timeout / 0.05)):
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"never became true: {expression}")


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[str]:
    """A headless Chromium; yields its DevTools HTTP address."""
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
            f"--user-data-dir={profile}",
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


async def open_page(devtools: str, url: str, ready: str = "!!document.getElementById('join')") -> Page:
    target = await asyncio.to_thread(http, "PUT", f"{devtools}/json/new?{url}")
    page = Page(await connect(target["webSocketDebuggerUrl"], max_size=None))
    await page.until(f"document.readyState === 'complete' && {ready}")
    return page
