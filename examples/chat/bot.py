"""4. A typed Python client: a bot that logs in, joins the chat and answers "ping".

Run the demo (`make demo`), then: `.venv/bin/python -m examples.chat.bot`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request

from durable_effect.sockets.client import ConnectError, connect

from .registry import Chat, Message, Say


def log_in(site: str, name: str) -> str:
    """A token for `name` from the server's `POST /login`."""
    request = urllib.request.Request(f"{site}/login", data=json.dumps({"name": name}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(json.loads(response.read())["token"])


async def main(site: str = "http://127.0.0.1:8787", room: str = "lobby", replies: int | None = None) -> int:
    token = await asyncio.to_thread(log_in, site, "bot")
    answered = 0
    async with connect(f"{site.replace('http', 'ws', 1)}/ws/chat/{room}?token={token}", Chat) as conn:
        await conn.send(Say(text="bot here: say ping"))
        async for msg in conn:
            if isinstance(msg, Message) and msg.user_id != "bot" and msg.text.strip().lower() == "ping":
                await conn.send(Say(text=f"pong, {msg.user_id}"))
                answered += 1
                if replies is not None and answered >= replies:
                    break
    return answered


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1]) if len(sys.argv) > 1 else main())
    except ConnectError as exc:  # no server there, or the upgrade was refused (e.g. 401 for an expired token)
        sys.exit(f"refused with {exc.status}: {exc.reason}" if exc.status is not None else exc.message)
