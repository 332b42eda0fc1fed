"""The host port: the little a host gives the engine for one room instance.

A host moves bytes and stores values; it never decides room semantics. The
engine (`engine.py`) drives every host through these two protocols, so the
same contract suite runs against the in-memory, Cloudflare and server hosts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

__all__ = ["AlarmChange", "HostSocket", "InstanceHost", "send_each"]

S = TypeVar("S", bound="HostSocket")


class HostSocket(Protocol):
    """One accepted WebSocket of an instance."""

    def is_open(self) -> bool:
        """True while frames can be sent (not closing or closed)."""
        ...

    def send(self, frame: str) -> None:
        """Send one text frame; raise if the socket cannot take it."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Start (or answer) the close handshake."""
        ...

    def attachment(self) -> str | None:
        """The serialized attachment, kept across hibernation."""
        ...

    def set_attachment(self, data: str) -> None:
        """Replace the serialized attachment."""
        ...


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """A run's change to the alarm: a new time in epoch ms, or None (deleted)."""

    at_ms: float | None


class InstanceHost(Protocol):
    """Storage, alarm, clock and sockets of one (room, id) instance."""

    async def load(self, key: str) -> str | None:
        """The stored value of `key`, or None."""
        ...

    async def commit(self, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None) -> None:
        """Write one run's changes, with its alarm change (None: unchanged), as
        one transaction: all durable when this returns, or none if it raises.
        The engine sends the run's frames only after this returns."""
        ...

    async def delete_all(self) -> None:
        """Delete every stored key of the instance (not the alarm)."""
        ...

    async def get_alarm(self) -> float | None:
        """The scheduled alarm time in epoch ms, or None."""
        ...

    def send_all(self, sockets: Sequence[HostSocket], frame: str) -> tuple[int, list[tuple[int, Exception]]]:
        """Send one frame to every socket that is open (a broadcast).

        Gives the number delivered and, for each send that raised, its index
        in `sockets` and the exception. One failure never stops the rest.
        """
        ...

    def now_ms(self) -> float:
        """The host's clock, epoch ms."""
        ...

    def sockets(self) -> Sequence[HostSocket]:
        """Every accepted socket of the instance that is not closed."""
        ...


def send_each(sockets: Sequence[S], send: Callable[[S], None]) -> tuple[int, list[tuple[int, Exception]]]:
    """`InstanceHost.send_all`'s loop: `send(socket)` for every open socket,
    each failure recorded with its index, none stopping the rest."""
    delivered = 0
    failed: list[tuple[int, Exception]] = []
    for i, socket in enumerate(sockets):
        if socket.is_open():
            try:
                send(socket)
                delivered += 1
            except Exception as exc:
                failed.append((i, exc))
    return delivered, failed
