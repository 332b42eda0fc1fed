"""The rooms guide stays true: its examples run here, and every python block
of docs/guide.md is in a file of examples/chat word for word."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from durable_effect.effect import Effect, EffectGen, Layer, Service, gen, run_promise, sync
from durable_effect.sockets import (
    BroadcastError,
    ConnectionInit,
    UpgradeOpts,
    make_in_memory_socket_runtime,
    with_services,
)
from examples.chat.handlers import Ctx, c, on_close, on_event
from examples.chat.registry import Chat, ChatConnection, Message, Say, UserJoined, registry

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide.md"
_CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


class Analytics(Service):
    def track(self, event: str, user_id: str) -> Effect[None]:
        raise NotImplementedError  # not @abstractmethod: mypy refuses an abstract class as a tag


class MemoryAnalytics(Analytics):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def track(self, event: str, user_id: str) -> Effect[None]:
        return sync(lambda: self.events.append((event, user_id)))


@c.on_connect
@gen
def tracked_connect(ctx: Ctx) -> EffectGen[None, BroadcastError, Analytics]:
    analytics = yield from Analytics  # the implementation in scope; adds Analytics to R
    conn = ctx.connection
    if conn is not None:
        yield from analytics.track("joined", conn.state.user_id)
        yield from ctx.broadcast(UserJoined(user_id=conn.state.user_id), except_=conn)


@pytest.mark.anyio
async def test_with_services_provides_a_layer_to_every_handler() -> None:
    tracked = registry.handler("chat", on_connect=tracked_connect, on_event=on_event, on_close=on_close)
    # reveal_type(tracked): RoomHandlers[ChatState, ChatConnection, ..., Analytics, Literal['chat']]
    analytics = MemoryAnalytics()
    chat_handler = with_services(tracked, Layer.succeed(Analytics, analytics))  # needs nothing now
    rt = make_in_memory_socket_runtime(registry.build({"chat": chat_handler}))
    for name in ["alice", "bob"]:
        opts = UpgradeOpts(connection=ConnectionInit(id=name, initial_state=ChatConnection(user_id=name, joined_at=0)))
        await run_promise(rt.testing_connect("chat", "room-1", opts))
    assert analytics.events == [("joined", "alice"), ("joined", "bob")]


@pytest.mark.anyio
async def test_runtime_services_provide_what_the_config_still_needs() -> None:
    tracked = registry.handler("chat", on_connect=tracked_connect, on_event=on_event, on_close=on_close)
    config = registry.build({"chat": tracked})  # SocketConfig[..., Analytics]: a host must provide it
    analytics = MemoryAnalytics()
    rt = make_in_memory_socket_runtime(config, services=Layer.succeed(Analytics, analytics))
    opts = UpgradeOpts(connection=ConnectionInit(id="ann", initial_state=ChatConnection(user_id="ann", joined_at=0)))
    await run_promise(rt.testing_connect("chat", "room-1", opts))
    assert analytics.events == [("joined", "ann")]


@pytest.mark.anyio
async def test_connections_survive_hibernation() -> None:
    rt = make_in_memory_socket_runtime(registry.build({"chat": registry.handler(Chat, on_event=on_event)}))
    init = ConnectionInit(id="alice", tags=["user:alice"], initial_state=ChatConnection(user_id="alice", joined_at=0))
    alice = await run_promise(rt.testing_connect(Chat, "room-1", UpgradeOpts(connection=init)))

    await run_promise(rt.hibernate(Chat, "room-1"))  # drops the instance; storage and sockets stay
    await run_promise(alice.receive(Say(text="still here")))  # wakes it: connections rebuilt first

    assert alice.received == [Message(text="still here", user_id="alice", ts=rt.clock.now_ms())]
    infos = await run_promise(rt.room(Chat).get_connections("room-1", "user:alice"))
    assert [i.state for i in infos] == [ChatConnection(user_id="alice", joined_at=0)]


def test_messages_carry_their_tag_on_the_wire() -> None:
    assert json.loads(UserJoined(user_id="bob").to_json()) == {"_tag": "UserJoined", "userId": "bob"}
    assert Chat.event.validate_json('{"_tag": "Say", "text": "hi"}') == Say(text="hi")


def test_the_chat_speaks_camel_case_on_the_wire() -> None:
    assert Chat.broadcast.validate_json('{"_tag": "UserJoined", "userId": "bob"}') == UserJoined(user_id="bob")
    assert ChatConnection(user_id="ann", joined_at=1).model_dump(by_alias=True) == {"userId": "ann", "joinedAt": 1}


def test_every_python_block_of_the_guide_is_in_examples_chat() -> None:
    sources = "\n".join(p.read_text() for p in sorted((ROOT / "examples" / "chat").glob("*.py")))
    blocks = _CODE_BLOCK.findall(GUIDE.read_text())

    assert blocks, "docs/guide.md has no python code blocks"
    # A block may be dedented from a function body: try it at each indent level.
    missing = [b for b in blocks if not any(textwrap.indent(b, pad) in sources for pad in ("", " " * 4, " " * 8))]
    assert missing == [], f"examples in docs/guide.md but not in examples/chat: {missing}"
