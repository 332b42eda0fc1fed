"""The typed client against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from durable_effect.effect import EffectGen, TaggedError, gen, run_promise
from durable_effect.sockets import ConnectionInit, RoomCtx, UpgradeOpts
from durable_effect.sockets.client import (
    ClientClosedError,
    ConnectError,
    RoomConnection,
    SendBufferFullError,
    connect,
    connect_effect,
)
from durable_effect.sockets.server import MemoryStorage, Refuse, SocketServer, UpgradeRequest, make_socket_server
from examples.chat.handlers import config as chat_config
from examples.chat.registry import (
    Chat,
    ChatConnection,
    ChatState,
    Message,
    Say,
    Typing,
    TypingBroadcast,
    UserJoined,
    UserLeft,
)
from examples.chat.registry import registry as chat_registry
from tests.server.server_helpers import TRANSPORTS, serve
from tests.server.trusting_chat import make_server, upgrade_options

pytestmark = pytest.mark.anyio

ChatBroadcast = Message | UserJoined | UserLeft | TypingBroadcast


@pytest.fixture(params=TRANSPORTS)
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SocketServer, str]]:
    """The chat server on each transport."""
    app = make_server(MemoryStorage())
    async with serve(app, on=request.param) as addr:
        yield app, f"ws://{addr}"


async def test_send_and_receive_typed_messages(served: tuple[SocketServer, str]) -> None:
    _, base = served
    async with await connect(f"{base}/ws/chat/r1?userId=ann", Chat) as ann:
        async with await connect(f"{base}/ws/chat/r1?userId=bob", Chat) as bob:
            assert await asyncio.wait_for(ann.recv(), 5) == UserJoined(user_id="bob")
            await bob.send(Say(text="hi"))
            got = await asyncio.wait_for(ann.recv(), 5)
            assert isinstance(got, Message) and got.text == "hi" and got.user_id == "bob"
            echoed = await asyncio.wait_for(bob.recv(), 5)
            assert isinstance(echoed, Message) and echoed.text == "hi"
        assert await asyncio.wait_for(ann.recv(), 5) == UserLeft(user_id="bob")


async def test_reconnects_after_a_drop_and_flushes_buffered_sends(served: tuple[SocketServer, str]) -> None:
    app, base = served
    ann = await connect(f"{base}/ws/chat/r2?userId=ann", Chat, min_backoff=0.05)
    bob = await connect(f"{base}/ws/chat/r2?userId=bob", Chat)
    assert await asyncio.wait_for(ann.recv(), 5) == UserJoined(user_id="bob")
    # The server drops ann (1011 is not final: the client comes back).
    for sock in app.host("chat", "r2").sockets():
        if '"ann"' in (sock.attachment() or ""):
            sock.close(1011, "restart")
    for _ in range(200):
        if ann.state != "open":
            break
        await asyncio.sleep(0.01)
    await ann.send(Say(text="while away"))  # buffered until the reconnect
    for _ in range(500):
        if ann.reconnects == 1 and ann.state == "open":
            break
        await asyncio.sleep(0.01)
    assert ann.reconnects == 1
    texts: list[str] = []
    while "while away" not in texts:
        msg = await asyncio.wait_for(bob.recv(), 5)
        if isinstance(msg, Message):
            texts.append(msg.text)
    assert texts == ["while away"]
    await ann.close()
    await bob.close()


async def test_closed_connection_raises_typed_errors(served: tuple[SocketServer, str]) -> None:
    _, base = served
    ann = await connect(f"{base}/ws/chat/r3?userId=ann", Chat, max_buffered=1)
    await ann.close()
    assert ann.state == "closed"
    with pytest.raises(ClientClosedError):
        await ann.send(Say(text="late"))
    with pytest.raises(ClientClosedError):
        await ann.recv()
    assert [m async for m in ann] == []
    err = SendBufferFullError(1)
    assert err.limit == 1


async def test_refused_upgrade_is_a_connect_error(served: tuple[SocketServer, str]) -> None:
    _, base = served
    with pytest.raises(ConnectError) as refused:
        await connect(f"{base}/ws/nosuchroom/r1?userId=ann", Chat)
    assert refused.value.status == 404
    assert refused.value.reason == "no room named 'nosuchroom'"
    with pytest.raises(ConnectError) as refused:
        await connect(f"{base}/ws/chat/r1?userId={'x' * 65}", Chat)
    assert (refused.value.status, refused.value.reason) == (400, "userId is at most 64 characters")


async def test_a_1008_close_is_final(served: tuple[SocketServer, str]) -> None:
    """Closed as too slow (or for any policy): no reconnect loop, a typed error with the reason."""
    app, base = served
    ann = await connect(f"{base}/ws/chat/r3?userId=ann", Chat, min_backoff=0.01)
    for sock in app.host("chat", "r3").sockets():
        sock.close(1008, "client too slow")
    with pytest.raises(ClientClosedError) as closed:
        while True:
            await asyncio.wait_for(ann.recv(), 5)
    assert (closed.value.code, closed.value.reason) == (1008, "client too slow")
    assert ann.is_closed()
    assert ann.reconnects == 0
    with pytest.raises(ClientClosedError):
        await ann.send(Say(text="after"))


class NotWelcome(TaggedError):
    user_id: str


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_failed_on_connect_names_its_error_class(transport: str) -> None:
    c = chat_registry.for_(Chat)

    @c.on_connect
    @gen
    def on_connect(ctx: RoomCtx[ChatState, ChatConnection, Say | Typing, ChatBroadcast]) -> EffectGen[None, NotWelcome]:
        conn = ctx.connection
        assert conn is not None
        if conn.state.user_id == "mallory":
            yield from NotWelcome(conn.state.user_id)
        if conn.state.user_id == "buggy":
            raise LookupError("an internal detail")

    config = chat_registry.build({"chat": chat_registry.handler(Chat, on_connect=on_connect)})
    app = make_socket_server(config, storage=MemoryStorage(), upgrade_options=upgrade_options)
    async with serve(app, on=transport) as addr:
        with pytest.raises(ConnectError) as refused:
            await connect(f"ws://{addr}/ws/chat/r1?userId=mallory", Chat)
        assert (refused.value.status, refused.value.reason) == (500, "on_connect failed: NotWelcome")
        with pytest.raises(ConnectError) as refused:
            await connect(f"ws://{addr}/ws/chat/r1?userId=buggy", Chat)
        assert (refused.value.status, refused.value.reason) == (500, "on_connect failed: LookupError")
        async with await connect(f"ws://{addr}/ws/chat/r1?userId=ann", Chat) as ann:
            assert ann.state == "open"


async def test_effect_forms(served: tuple[SocketServer, str]) -> None:
    _, base = served
    ann = await run_promise(connect_effect(f"{base}/ws/chat/r4?userId=ann", Chat))
    await run_promise(ann.send_effect(Say(text="from effect")))
    got = await run_promise(ann.next_effect())
    assert isinstance(got, Message) and got.text == "from effect"
    await ann.close()
    failed = await run_promise(ann.next_effect().either())
    assert failed.failure() == ClientClosedError(1000, "")
    refused = await run_promise(connect_effect(f"{base}/ws/nope/x", Chat).either())
    assert isinstance(refused.failure(), ConnectError)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_example_bot_logs_in_and_answers_ping(transport: str) -> None:
    from examples.chat.bot import main as bot
    from examples.chat.identity import sign
    from examples.chat.server import make_server as make_chat_server

    async with (
        serve(make_chat_server(MemoryStorage()), on=transport) as addr,
        await connect(f"ws://{addr}/ws/chat/lobby?token={sign('ann')}", Chat) as ann,
    ):
        task = asyncio.create_task(bot(f"http://{addr}", replies=1))
        seen: list[str] = []
        while "bot here: say ping" not in seen:  # the bot has joined
            msg = await asyncio.wait_for(ann.recv(), 5)
            if isinstance(msg, Message):
                seen.append(msg.text)
        await ann.send(Say(text="ping"))
        replies: list[str] = []
        while not replies:
            msg = await asyncio.wait_for(ann.recv(), 5)
            if isinstance(msg, Message) and msg.user_id == "bot" and msg.text.startswith("pong"):
                replies.append(msg.text)
        assert replies == ["pong, ann"]
        assert await asyncio.wait_for(task, 5) == 1


async def test_effect_client_story_with_three_clients(served: tuple[SocketServer, str]) -> None:
    """The chat story written as Effect code: three clients join, talk, leave."""
    from durable_effect.effect import promise
    from durable_effect.sockets.client import RoomConnection
    from examples.chat.registry import Message as ChatMessage
    from examples.chat.registry import Say as ChatSay
    from examples.chat.registry import Typing, TypingBroadcast

    _, base = served
    Conn = RoomConnection[ChatSay | Typing, ChatMessage | UserJoined | UserLeft | TypingBroadcast]

    @gen
    def story() -> EffectGen[list[str], ClientClosedError | SendBufferFullError | ConnectError]:
        conns: list[Conn] = []
        for name in ("ann", "bob", "cy"):
            conns.append((yield from connect_effect(f"{base}/ws/chat/fx?userId={name}", Chat)))
        ann, bob, cy = conns
        assert (yield from ann.next_effect()) == UserJoined(user_id="bob")
        assert (yield from ann.next_effect()) == UserJoined(user_id="cy")
        assert (yield from bob.next_effect()) == UserJoined(user_id="cy")
        yield from cy.send_effect(ChatSay(text="hello"))
        heard: list[str] = []
        for conn in conns:
            msg = yield from conn.next_effect()
            assert isinstance(msg, ChatMessage) and msg.user_id == "cy"
            heard.append(msg.text)
        yield from bob.send_effect(Typing())
        assert (yield from ann.next_effect()) == TypingBroadcast(user_id="bob")
        assert (yield from cy.next_effect()) == TypingBroadcast(user_id="bob")
        for conn in conns:
            yield from promise(conn.close)
        return heard

    assert await run_promise(story()) == ["hello", "hello", "hello"]


def _needs_bearer(request: UpgradeRequest) -> UpgradeOpts[ChatConnection] | Refuse:
    if request.headers.get("authorization") != "Bearer ann-token":
        return Refuse(401, "a bearer token is required")
    return UpgradeOpts(ConnectionInit(ChatConnection(user_id="ann", joined_at=0.0), id="ann", tags=["user:ann"]))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_headers_go_with_the_upgrade_and_the_plain_async_with_form(transport: str) -> None:
    app = make_socket_server(chat_config, upgrade_options=_needs_bearer)
    async with serve(app, on=transport) as addr:
        url = f"ws://{addr}/ws/chat/h1"
        with pytest.raises(ConnectError) as refused:
            async with connect(url, Chat):
                pass
        assert (refused.value.status, refused.value.reason) == (401, "a bearer token is required")
        async with connect(url, Chat, headers={"Authorization": "Bearer ann-token"}) as ann:
            await ann.send(Say(text="with a header"))
            msg = await asyncio.wait_for(_first_message(ann), 5)
            assert (msg.user_id, msg.text) == ("ann", "with a header")
        assert ann.is_closed()


async def _first_message(conn: RoomConnection[Any, ChatBroadcast]) -> Message:
    async for msg in conn:
        if isinstance(msg, Message):
            return msg
    raise AssertionError("closed before a message")
