"""4. A typed Python client: a bot that joins the chat and answers "ping".

Run the demo (`make demo`), then: `.venv/bin/python -m examples.chat.bot`.
"""

from __future__ import annotations

import asyncio
import sys

from durable_effect.sockets.client import ConnectError, connect

from .registry import Chat, Message, Say


async def main(url: str = "ws://127.0.0.1:8787/ws/chat/lobby?userId=bot", replies: int | None = None) -> int:
    answered = 0
    async with connect(url, Chat) as conn:
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
    except ConnectError as exc:  # no server there, or the upgrade was refused (e.g. 400 for a bad userId)
        sys.exit(f"refused with {exc.status}: {exc.reason}" if exc.status is not None else exc.message)
