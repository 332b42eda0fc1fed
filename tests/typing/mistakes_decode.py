"""Bullet 5: `on_decode_error(ctx, raw, err)` gets a `RoomValidationError`, WITH the plugin."""

from __future__ import annotations

from typing import reveal_type

from wiring_rooms import Chat, ChatCtx, registry

from durable_effect.effect import Effect, log_error
from durable_effect.sockets import SendError


def takes_a_send_error(ctx: ChatCtx, raw: str, err: SendError) -> Effect[None]:
    return log_error(err.connection_id)


def reads_the_detail(ctx: ChatCtx, raw: str, err: Exception) -> Effect[None]:
    return log_error(raw, err)


c = registry.for_(Chat)
c.on_decode_error(takes_a_send_error)  # E[arg-type]: Argument 1 to "on_decode_error" of "RoomBuilder" has incompatible type "Callable[[RoomCtx[ChatState, ChatConn, Say | Typing, Message, object], str, SendError], Effect[None, Never, Never]]"; expected "Callable[[RoomCtx[ChatState, ChatConn, Say | Typing, Message, WebSocketRoom[ChatState, ChatConn, Say | Typing, Message, Literal['chat']] | WebSocketRoom[FeedState, Reader, Post, Posted, Literal['feed']]], str, RoomValidationError], Effect[None, Never, Never]]"
registry.handler(Chat, on_decode_error=takes_a_send_error)  # E[arg-type]: Argument "on_decode_error" to "handler" of "SocketRegistry" has incompatible type "Callable[[RoomCtx[ChatState, ChatConn, Say | Typing, Message, object], str, SendError], Effect[None, Never, Never]]"; expected "Callable[[RoomCtx[ChatState, ChatConn, Say | Typing, Message, WebSocketRoom[ChatState, ChatConn, Say | Typing, Message, Literal['chat']] | WebSocketRoom[FeedState, Reader, Post, Posted, Literal['feed']]], str, RoomValidationError], Effect[object, object, Never]] | None"
registry.handler(Chat, on_decode_error=reads_the_detail)  # a wider parameter is fine
c.on_decode_error(lambda ctx, raw, err: log_error(reveal_type(err).message, err.raw))  # N: Revealed type is "durable_effect.sockets.errors.RoomValidationError"
c.on_decode_error(lambda ctx, raw, err: log_error(err.detail))  # E[attr-defined]: "RoomValidationError" has no attribute "detail"
