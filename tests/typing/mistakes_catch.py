"""Bullet 2: `catch_tag` / `catch_tags` accept only errors that can occur, WITH the plugin."""

from __future__ import annotations

from wiring_rooms import ChatCtx, Message

from durable_effect.effect import catch_tag, catch_tags, succeed
from durable_effect.sockets import RoomError, SendError, UpgradeError


def handler(ctx: ChatCtx) -> None:
    sent = ctx.broadcast(Message(text="hi"))
    sent.catch_tag(SendError, lambda e: succeed(None))  # E[catch-tag]: "SendError" can never be caught here: it fails only with "BroadcastError"
    catch_tag(sent, SendError, lambda e: succeed(None))  # E[catch-tag]: "SendError" can never be caught here: it fails only with "BroadcastError"
    sent.pipe(catch_tag(SendError, lambda e: succeed(None)))  # E[catch-tag]: "SendError" can never be caught here: it fails only with "BroadcastError"
    ctx.recall().pipe(catch_tags((RoomError, lambda e: succeed(None)), (UpgradeError, lambda e: succeed(None))))  # E[catch-tag]: "UpgradeError" can never be caught here: it fails only with "RoomError"
    succeed(1).catch_tag(RoomError, lambda e: succeed(0))  # E[catch-tag]: "RoomError" can never be caught here: it cannot fail
