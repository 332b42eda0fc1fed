"""The access log, one format on both transports (logger `durable_effect.access`, INFO):

    127.0.0.1 "GET /api/chat/lobby/state" 200 1.4 ms
    127.0.0.1 "WS /ws/chat/lobby" 101 open
    127.0.0.1 "WS /ws/chat/lobby" 403 refused: cross-origin upgrade from https://evil.example ...
    127.0.0.1 "WS /ws/chat/lobby" closed 1000

The app writes it, so the native transport and uvicorn (whose own access log
`run` turns off) log the same lines.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

access_log = logging.getLogger("durable_effect.access")

Message = MutableMapping[str, Any]


def peer_of(scope: MutableMapping[str, Any]) -> str | None:
    """The client's address in an ASGI scope (None when the server does not say)."""
    client = scope.get("client")
    return str(client[0]) if client else None


class LoggedSend:
    """Wraps an HTTP `send`: once the response is complete, logs the request's
    line (when the access log is on) and calls `count` with the status."""

    __slots__ = ("_count", "_line", "_send", "_started", "_status")

    def __init__(
        self,
        scope: MutableMapping[str, Any],
        path: str,
        send: Callable[[Message], Awaitable[None]],
        count: Callable[[int], None] | None = None,
    ) -> None:
        self._send = send
        self._count = count
        self._line = f'{peer_of(scope) or "-"} "{scope.get("method", "?")} {path}"'
        self._started = time.perf_counter()
        self._status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._status = int(message["status"])
        await self._send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            if self._count is not None:
                self._count(self._status)
            ms = (time.perf_counter() - self._started) * 1000
            access_log.info("%s %d %.1f ms", self._line, self._status, ms)


def log_upgrade(peer: str | None, room: str, id: str, status: int, reason: str = "") -> None:
    """An upgrade's line: 101 open, or its refusal's status and reason."""
    if access_log.isEnabledFor(logging.INFO):
        outcome = "open" if status == 101 else f"refused: {reason}"
        access_log.info('%s "WS /ws/%s/%s" %d %s', peer or "-", room, id, status, outcome)


def log_closed(peer: str | None, room: str, id: str, code: int) -> None:
    """A socket's close line, with the code the client sent."""
    if access_log.isEnabledFor(logging.INFO):
        access_log.info('%s "WS /ws/%s/%s" closed %d', peer or "-", room, id, code)
