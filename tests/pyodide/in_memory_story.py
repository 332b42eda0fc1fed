"""The chat story on the in-memory host, told the same way on CPython and inside Pyodide.

`chat_story()` returns what every client received, frame by frame, plus the
room's state and connections: plain JSON data, so the test can compare the two
interpreters' runs exactly. It imports only the library and the chat example.
"""

from __future__ import annotations

import json
from typing import Any

from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, UpgradeOpts, make_in_memory_socket_runtime
from examples.chat.handlers import config
from examples.chat.registry import Chat, ChatConnection, Say, Typing

ROOM = "room-1"
NAMES = ["alice", "bob", "carol", "dave", "eve"]


async def chat_story() -> dict[str, Any]:
    rt = make_in_memory_socket_runtime(config)
    chat = rt.room(Chat)
    clients = {}
    for name in NAMES:
        opts = UpgradeOpts(
            connection=ConnectionInit(
                id=name,
                tags=[f"user:{name}"],
                initial_state=ChatConnection(user_id=name, joined_at=rt.clock.now_ms()),
            )
        )
        clients[name] = await run_promise(rt.testing_connect(Chat, ROOM, opts))
        await run_promise(rt.advance("1 minute"))

    await run_promise(clients["alice"].receive(Say(text="hi all")))
    await run_promise(clients["bob"].receive(Say(text="hey alice")))
    await run_promise(clients["carol"].receive(Typing()))
    await run_promise(clients["dave"].receive_raw("not json at all"))
    await run_promise(chat.send(ROOM, Say(text="maintenance at noon")))
    await run_promise(rt.hibernate(Chat, ROOM))
    await run_promise(clients["eve"].receive(Say(text="after the nap")))
    await run_promise(clients["dave"].close(1000, "bye"))

    state = await run_promise(chat.get_state(ROOM))
    connections = await run_promise(chat.get_connections(ROOM))
    by_tag = await run_promise(chat.get_connections(ROOM, "user:carol"))
    return {
        "frames": {name: [json.loads(f) for f in c.raw_received] for name, c in clients.items()},
        "state": None if state is None else state.model_dump(mode="json", by_alias=True),
        "connections": [info.id for info in connections],
        "carol": [[info.id, list(info.tags), info.state.model_dump(mode="json", by_alias=True)] for info in by_tag],
    }
