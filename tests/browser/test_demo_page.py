"""The demo page in headless Chromium, driven over the DevTools protocol.

The page logs in (`POST /login` gives it a signed token for the name) and
talks to the room through the browser client the server ships
(`/_durable_effect/client.js`). Two pages join the chat; one types and sends,
the other shows the typing indicator, the message and who is online. Then the
server restarts: both pages reconnect by themselves, what was typed while the
server was down is delivered, and they keep chatting. Needs Debian's
`chromium` (CI installs it); without it the test is skipped and says so.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from durable_effect.sockets.server import MemoryStorage, SQLiteStorage
from examples.chat.server import make_server
from tests.server.server_helpers import TRANSPORTS, free_port, serve

from .devtools import CHROMIUM, SKIP_REASON, Page, http, open_page

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)]


@pytest.fixture(params=TRANSPORTS)
async def site(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The demo server on each transport."""
    async with serve(make_server(MemoryStorage()), on=request.param) as addr:
        yield f"http://{addr}"


def text_of(element: str) -> str:
    return f"document.getElementById({json.dumps(element)}).textContent"


async def say(page: Page, text: str) -> None:
    await page.js(f"document.getElementById('text').value = {json.dumps(text)}")
    await page.js("document.getElementById('say').requestSubmit()")


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
    await bob.js("document.getElementById('leave').click()")
    await ann.until("!document.getElementById('online').textContent.includes('bob')")
    assert await ann.until("document.getElementById('log').textContent.includes('bob left')")
    await ann.ws.close()
    await bob.ws.close()


async def sockets_of(site: str, user: str, count: int) -> None:
    """Wait until the lobby has `count` sockets of `user`."""
    for _ in range(200):
        conns = await asyncio.to_thread(http, "GET", f"{site}/api/chat/lobby/connections")
        if sum(c["id"] == user for c in conns) == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{user} does not have {count} sockets: {conns}")


async def test_two_tabs_of_one_user_through_the_login(site: str, browser: str) -> None:
    tab1 = await open_page(browser, site + "/")
    tab2 = await open_page(browser, site + "/")
    bob = await open_page(browser, site + "/")
    await join(bob, "bob")
    await join(tab1, "ann")
    await join(tab2, " ann ")  # the server names the user: trimmed, the same ann
    await bob.until(f"{text_of('online')}.includes('ann')")
    assert await tab2.until(f"{text_of('log')}.includes('joined lobby as ann')")
    assert (await bob.js(text_of("log"))).count("ann joined") == 1

    # One tab leaves: ann is still online, and her other tab still talks.
    await tab1.js("document.getElementById('leave').click()")
    await sockets_of(site, "ann", 1)  # the server has run the closed tab's on_close
    await say(tab2, "from my other tab")
    await bob.until(f"{text_of('log')}.includes('ann: from my other tab')")
    assert "ann left" not in await bob.js(text_of("log"))
    assert "ann" in await bob.js(text_of("online"))

    # Her last tab leaves: now she is gone.
    await tab2.js("document.getElementById('leave').click()")
    await bob.until(f"!{text_of('online')}.includes('ann')")
    for page in (tab1, tab2, bob):
        await page.ws.close()


async def test_a_name_too_long_is_refused_at_login(site: str, browser: str) -> None:
    page = await open_page(browser, site + "/")
    await page.js(f"document.getElementById('name').value = {json.dumps('x' * 65)}")
    await page.js("document.getElementById('join').requestSubmit()")
    status = await page.until(f"{text_of('status')}.startsWith('could not log in') && {text_of('status')}")
    assert status == "could not log in: name is at most 64 characters"
    await page.ws.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pages_reconnect_after_a_server_restart(transport: str, browser: str, tmp_path: Path) -> None:
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    db = tmp_path / "chat.db"
    first = make_server(SQLiteStorage(db))
    async with serve(first, on=transport, port=port):
        ann = await open_page(browser, site + "/")
        bob = await open_page(browser, site + "/")
        await join(ann, "ann")
        await join(bob, "bob")
        await ann.until(f"{text_of('online')}.includes('bob')")
        await say(ann, "before the restart")
        await bob.until(f"{text_of('log')}.includes('ann: before the restart')")
        # Going away (1001), as `durable-effect serve` does on SIGTERM on either transport.
        first.shutdown()
        await first.closes_sent(5.0)

    # The server is gone: both pages say so, and keep what is typed.
    for page in (ann, bob):
        await page.until(f"{text_of('status')}.startsWith('reconnecting')")
    await say(ann, "typed while down")
    await say(bob, "me too")
    assert await ann.js(text_of("status")) == "reconnecting… (1 waiting)"
    assert "typed while down" not in await bob.js(text_of("log"))

    async with serve(make_server(SQLiteStorage(db)), on=transport, port=port):
        # Both reconnect by themselves, and what waited goes out: the room echoes
        # each Message to its sender too. (The other page hears it only if it was
        # back first: broadcasts are live, the room keeps no history.)
        for page, said in ((ann, "ann: typed while down"), (bob, "bob: me too")):
            await page.until(f"{text_of('status')} === 'online'")
            await page.until(f"{text_of('log')}.includes({json.dumps(said)})")
        # And they keep chatting.
        await say(bob, "still here")
        await ann.until(f"{text_of('log')}.includes('bob: still here')")
        state = await asyncio.to_thread(http, "GET", f"{site}/api/chat/lobby/state")
        assert state["messageCount"] == 4  # the count survived the restart (SQLite)
        log = await ann.js(text_of("log"))
        assert log.count("ann: typed while down") == 1 and "reconnected" in log
        await ann.ws.close()
        await bob.ws.close()
