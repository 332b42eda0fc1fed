"""The instance lock: one handler run at a time, first come, first served.

An instance takes its lock for every inbound frame, close, alarm and direct
call, so the uncontended path is on every event. This lock takes it without
touching the event loop (a flag), and only a contended acquire waits, on an
`anyio.Event`, so it works under asyncio and trio alike. A release with
waiters hands the lock to the first of them: nobody can overtake a waiter.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

import anyio

__all__ = ["RunLock"]


class RunLock:
    """A FIFO mutex whose uncontended acquire and release are a flag.

    Like `anyio.Lock(fast_acquire=True)`, an uncontended acquire is not a
    checkpoint. A waiter cancelled before its turn leaves the queue; one
    cancelled just as the lock was handed to it passes the lock on.
    """

    __slots__ = ("_locked", "_waiters")

    def __init__(self) -> None:
        self._locked = False
        self._waiters: deque[anyio.Event] = deque()

    def locked(self) -> bool:
        """True while someone holds the lock (or it is being handed over)."""
        return self._locked

    async def acquire(self) -> None:
        if not self._locked:
            self._locked = True
            return
        turn = anyio.Event()
        self._waiters.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():
                self.release()  # it was handed to us as we were cancelled: pass it on
            else:
                self._waiters.remove(turn)
            raise

    def release(self) -> None:
        if not self._locked:
            raise RuntimeError("release of a lock that is not held")
        if self._waiters:
            self._waiters.popleft().set()  # stays locked: it now belongs to the first waiter
        else:
            self._locked = False

    async def __aenter__(self) -> None:
        if not self._locked:
            self._locked = True
            return
        await self.acquire()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
