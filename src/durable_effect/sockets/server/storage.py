"""Storage for the self-hosted server: SQLite (the default) or memory.

One table holds every instance's keys, keyed by (room, id, key); another
holds each instance's alarm. A run's keys and its alarm change are written in
one transaction. SQLite runs in WAL mode with `synchronous=NORMAL`: a commit
survives the process being killed, and a handler's small transaction takes
well under a millisecond, so it runs on the event loop thread. The busy
timeout is zero: a database locked by another process fails a write at once
with `StorageBusyError`, and the host retries it without holding the loop.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from durable_effect.sockets.host import AlarmChange

__all__ = ["DueAlarm", "MemoryStorage", "SQLiteStorage", "ServerStorage", "StorageBusyError", "StorageError"]


class StorageError(Exception):
    """The database cannot be opened or written."""


class StorageBusyError(StorageError):
    """Another connection holds the database's write lock; retry later."""


@dataclass(frozen=True, slots=True)
class DueAlarm:
    room: str
    id: str
    at_ms: float
    retries: int
    started: bool = False  # a run of this alarm began and never committed (the process died)


class ServerStorage(Protocol):
    """What the server host needs from a storage backend."""

    def load(self, room: str, id: str, key: str) -> str | None: ...
    def commit(
        self, room: str, id: str, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None = None
    ) -> None: ...
    def delete_all(self, room: str, id: str) -> None: ...
    def get_alarm(self, room: str, id: str) -> DueAlarm | None: ...
    def set_alarm(self, room: str, id: str, at_ms: float, retries: int = 0) -> None: ...
    def delete_alarm(self, room: str, id: str) -> None: ...
    def start_alarm(self, room: str, id: str, retries: int) -> None: ...
    def next_alarm(self) -> DueAlarm | None: ...
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    room TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (room, id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarms (
    room TEXT NOT NULL, id TEXT NOT NULL, at_ms REAL NOT NULL, retries INTEGER NOT NULL DEFAULT 0,
    started INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alarms_by_time ON alarms (at_ms);
"""


_PUT = "INSERT OR REPLACE INTO kv (room, id, key, value) VALUES (?, ?, ?, ?)"
_DELETE = "DELETE FROM kv WHERE room=? AND id=? AND key=?"


class SQLiteStorage:
    """Every instance's state and alarm in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database {self.path}: {exc}") from None
        try:
            self._db.execute("PRAGMA busy_timeout=1000")  # only while setting up
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(alarms)")}
            if "started" not in columns:  # a file made by an earlier version
                self._db.execute("ALTER TABLE alarms ADD COLUMN started INTEGER NOT NULL DEFAULT 0")
            # Fail now, naming the file, rather than at the first handler's commit.
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO kv (room, id, key, value) VALUES ('', '', '', '')")
            self._db.execute("ROLLBACK")
            self._db.execute("PRAGMA busy_timeout=0")
        except sqlite3.Error as exc:
            self._db.close()
            raise StorageError(f"the database {self.path} is not writable: {exc}") from None

    def load(self, room: str, id: str, key: str) -> str | None:
        with self._lock, _errors():
            row = self._db.execute("SELECT value FROM kv WHERE room=? AND id=? AND key=?", (room, id, key)).fetchone()
        return None if row is None else str(row[0])

    def commit(
        self, room: str, id: str, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None = None
    ) -> None:
        if not puts and not deletes and alarm is None:
            return
        db = self._db
        with self._lock:
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    if deletes:
                        db.executemany(_DELETE, [(room, id, k) for k in deletes])
                    if len(puts) == 1:
                        [(key, value)] = puts.items()
                        db.execute(_PUT, (room, id, key, value))
                    elif puts:
                        db.executemany(_PUT, [(room, id, k, v) for k, v in puts.items()])
                    if alarm is not None and alarm.at_ms is None:
                        db.execute("DELETE FROM alarms WHERE room=? AND id=?", (room, id))
                    elif alarm is not None:
                        db.execute(
                            "INSERT OR REPLACE INTO alarms (room, id, at_ms, retries, started) VALUES (?, ?, ?, 0, 0)",
                            (room, id, alarm.at_ms),
                        )
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:  # what `_errors` does, without a context manager on the hot path
                raise _storage_error(exc) from None

    def delete_all(self, room: str, id: str) -> None:
        with self._lock, _errors():
            self._db.execute("DELETE FROM kv WHERE room=? AND id=?", (room, id))

    def get_alarm(self, room: str, id: str) -> DueAlarm | None:
        with self._lock, _errors():
            row = self._db.execute(
                "SELECT at_ms, retries, started FROM alarms WHERE room=? AND id=?", (room, id)
            ).fetchone()
        return None if row is None else DueAlarm(room, id, float(row[0]), int(row[1]), bool(row[2]))

    def set_alarm(self, room: str, id: str, at_ms: float, retries: int = 0) -> None:
        with self._lock, _errors():
            self._db.execute(
                "INSERT OR REPLACE INTO alarms (room, id, at_ms, retries, started) VALUES (?, ?, ?, ?, 0)",
                (room, id, at_ms, retries),
            )

    def delete_alarm(self, room: str, id: str) -> None:
        with self._lock, _errors():
            self._db.execute("DELETE FROM alarms WHERE room=? AND id=?", (room, id))

    def start_alarm(self, room: str, id: str, retries: int) -> None:
        """Mark the alarm's run (retry number `retries`) as begun: if the process
        dies before the run commits, the alarm fires again after a restart, as
        the next retry."""
        with self._lock, _errors():
            self._db.execute("UPDATE alarms SET started=1, retries=? WHERE room=? AND id=?", (retries, room, id))

    def next_alarm(self) -> DueAlarm | None:
        with self._lock, _errors():
            row = self._db.execute(
                "SELECT room, id, at_ms, retries, started FROM alarms ORDER BY at_ms LIMIT 1"
            ).fetchone()
        return None if row is None else DueAlarm(str(row[0]), str(row[1]), float(row[2]), int(row[3]), bool(row[4]))

    def close(self) -> None:
        with self._lock:
            self._db.close()


@contextmanager
def _errors() -> Iterator[None]:
    """SQLite's errors as storage errors: busy (retry) or not."""
    try:
        yield
    except sqlite3.Error as exc:
        raise _storage_error(exc) from None


def _storage_error(exc: sqlite3.Error) -> StorageError:
    """A busy database (retry later) or another storage error."""
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        return StorageBusyError(str(exc))
    return StorageError(str(exc))


class MemoryStorage:
    """Storage that lives as long as the process (for tests)."""

    def __init__(self) -> None:
        self.kv: dict[tuple[str, str], dict[str, str]] = {}
        self.alarms: dict[tuple[str, str], DueAlarm] = {}

    def load(self, room: str, id: str, key: str) -> str | None:
        return self.kv.get((room, id), {}).get(key)

    def commit(
        self, room: str, id: str, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None = None
    ) -> None:
        space = self.kv.setdefault((room, id), {})
        for k in deletes:
            space.pop(k, None)
        space.update(puts)
        at = None if alarm is None else alarm.at_ms
        if alarm is not None and at is None:
            self.alarms.pop((room, id), None)
        elif at is not None:
            self.alarms[(room, id)] = DueAlarm(room, id, at, 0)

    def delete_all(self, room: str, id: str) -> None:
        self.kv.pop((room, id), None)

    def get_alarm(self, room: str, id: str) -> DueAlarm | None:
        return self.alarms.get((room, id))

    def set_alarm(self, room: str, id: str, at_ms: float, retries: int = 0) -> None:
        self.alarms[(room, id)] = DueAlarm(room, id, at_ms, retries)

    def delete_alarm(self, room: str, id: str) -> None:
        self.alarms.pop((room, id), None)

    def start_alarm(self, room: str, id: str, retries: int) -> None:
        alarm = self.alarms.get((room, id))
        if alarm is not None:
            self.alarms[(room, id)] = DueAlarm(room, id, alarm.at_ms, retries, True)

    def next_alarm(self) -> DueAlarm | None:
        return min(self.alarms.values(), key=lambda a: a.at_ms, default=None)

    def close(self) -> None:
        return None
