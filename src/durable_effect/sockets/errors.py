"""The error taxonomy of rooms. Every error is a `TaggedError`, so
`catch_tag(SendError, ...)` and friends work throughout."""

from __future__ import annotations

from dataclasses import field

from durable_effect.effect import TaggedError
from durable_effect.platform.instance import PurgeSignal, SystemFailure

__all__ = [
    "AttachmentTooLargeError",
    "BroadcastError",
    "PurgeSignal",
    "RoomError",
    "RoomExecutionError",
    "RoomNotFoundError",
    "RoomValidationError",
    "SendError",
    "SystemFailure",
    "UpgradeError",
]


class RoomError(TaggedError):
    """Storage, alarm or schema failure in a `ctx` operation."""

    message: str


class UpgradeError(TaggedError):
    """The upgrade was refused: bad options, duplicate id (409), or on_connect failed."""

    message: str
    status: int = 400


class SendError(TaggedError):
    """A message could not be sent to one connection (not open, or the send raised)."""

    connection_id: str
    message: str


class BroadcastError(TaggedError):
    """One or more sends of a broadcast failed; the others were delivered."""

    failures: list[SendError] = field(default_factory=list)
    delivered: int = 0


class AttachmentTooLargeError(TaggedError):
    """`set_state` (or an upgrade) would exceed the attachment cap; old state kept."""

    size: int
    limit: int


class RoomValidationError(TaggedError):
    """An inbound frame or a direct-API value failed the room's schema."""

    message: str
    raw: str = ""


class RoomExecutionError(TaggedError):
    """A handler raised, or failed with an error nobody handled."""

    message: str
    cause: BaseException | None = None


class RoomNotFoundError(TaggedError):
    """No room with this name is registered."""

    name: str
