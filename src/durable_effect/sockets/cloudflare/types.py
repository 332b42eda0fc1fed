"""The slice of the Durable Object runtime the adapter talks to, as Protocols.

JavaScript objects reach Python as untyped proxies; these Protocols name the
members the adapter uses, so the adapter is checked by mypy and a fake of the
runtime (`durable_effect.sockets.cloudflare.testing`) can stand in for them.
Names keep their JavaScript spelling.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Protocol

__all__ = [
    "AlarmInvocationInfo",
    "DurableObjectId",
    "DurableObjectNamespace",
    "DurableObjectState",
    "DurableObjectStorage",
    "DurableObjectStub",
    "JsWebSocket",
    "StubResponse",
]

READY_STATE_OPEN = 1


class JsWebSocket(Protocol):
    """The server end of a hibernatable WebSocket."""

    @property
    def readyState(self) -> int: ...

    def send(self, message: str, /) -> None: ...

    def close(self, code: int, reason: str, /) -> None: ...

    def serializeAttachment(self, value: str, /) -> None: ...

    def deserializeAttachment(self) -> object: ...


class DurableObjectStorage(Protocol):
    """`ctx.storage`: every method returns an awaitable (a JavaScript promise)."""

    def get(self, key: str, /) -> Awaitable[object]: ...

    def put(self, key_or_entries: object, value: str | None = None, /) -> Awaitable[object]: ...

    def delete(self, keys: object, /) -> Awaitable[object]: ...

    def deleteAll(self) -> Awaitable[object]: ...

    def getAlarm(self) -> Awaitable[object]: ...

    def setAlarm(self, scheduled_time: float, /) -> Awaitable[object]: ...

    def deleteAlarm(self) -> Awaitable[object]: ...


class DurableObjectId(Protocol):
    """`ctx.id`; `name` is the name given to `idFromName` (may be missing on a cold alarm wake)."""

    @property
    def name(self) -> object: ...


class DurableObjectState(Protocol):
    """`ctx` of a Durable Object: its id, storage and hibernatable WebSockets."""

    @property
    def id(self) -> DurableObjectId: ...

    @property
    def storage(self) -> DurableObjectStorage: ...

    def acceptWebSocket(self, ws: JsWebSocket, tags: object, /) -> None: ...

    def getWebSockets(self) -> Iterable[JsWebSocket]: ...

    def getTags(self, ws: JsWebSocket, /) -> Iterable[str]: ...


class AlarmInvocationInfo(Protocol):
    """The argument of `alarm()`: how many times this alarm was retried."""

    @property
    def retryCount(self) -> int: ...

    @property
    def isRetry(self) -> bool: ...


class StubResponse(Protocol):
    """What a stub's `fetch` resolves to (a Workers `Response`)."""

    @property
    def status(self) -> int: ...

    def text(self) -> Awaitable[str]: ...


class DurableObjectStub(Protocol):
    """A Durable Object stub: `fetch(url, method=..., body=...)` or `fetch(request)`."""

    def fetch(self, resource: object, /, **init: str) -> Awaitable[StubResponse]: ...


class DurableObjectNamespace(Protocol):
    """A Durable Object namespace binding (`env.ROOMS`)."""

    def idFromName(self, name: str, /) -> object: ...

    def get(self, id: object, /) -> DurableObjectStub: ...
