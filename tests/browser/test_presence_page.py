"""The presence example's page in headless Chromium: who is here, who is typing."""

from __future__ import annotations

import json

import pytest

from durable_effect.sockets.server import MemoryStorage
from examples.presence.server import make_server
from tests.server.server_helpers import serve

from .devtools import CHROMIUM, SKIP_REASON, Page, open_page

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)]

MEMBERS = "document.getElementById('members')"


async def join(page: Page, name: str) -> None:
    await page.js(f"document.getElementById('name').value = {json.dumps(name)}")
    await page.js("document.getElementById('join').requestSubmit()")
    await page.until("!document.getElementById('draft').disabled")


async def test_two_pages_see_each_other_and_the_typing_indicator(browser: str) -> None:
    async with serve(make_server(MemoryStorage())) as addr:
        ann = await open_page(browser, f"http://{addr}/")
        bob = await open_page(browser, f"http://{addr}/")
        await join(ann, "Ann")
        await join(bob, "Bob")
        await ann.until(f"{MEMBERS}.textContent === 'Ann (you)Bob'")
        assert await bob.until(f"{MEMBERS}.textContent") == "Ann" + "Bob (you)"

        await bob.js("document.getElementById('draft').dispatchEvent(new Event('input'))")
        typing = await ann.until(f"[...{MEMBERS}.querySelectorAll('.typing')].map((li) => li.textContent).join()")
        assert typing == "Bob"
        # Bob stops typing: the indicator goes away.
        await ann.until(f"{MEMBERS}.querySelectorAll('.typing').length === 0")

        await bob.ws.close()  # the DevTools link, not the tab
        await ann.ws.close()
