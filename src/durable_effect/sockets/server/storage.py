"""Storage for the self-hosted server: SQLite (the default) or memory.

One table holds every instance's keys, keyed by (room, id, key); another
holds each instance's alarm. SQLite runs in WAL mode with
`synchronous=NORMAL`: a commit survives the process being killed, and a
handler's small transaction takes well under a millisecond, so it runs on
the event loop thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["DueAlarm", "MemoryStorage", "SQLiteStorage", "ServerStorage"]


@dataclass(frozen=True, slots=True)
class DueAlarm:
    room: str
    id: str
    at_ms: float
    retries: int


class ServerStorage(Protocol):
    """What the server host needs from a storage backend."""

    def load(self, room: str, id: str, key: str) -> str | None: ...
    def commit(self, room: str, id: str, puts: Mapping[str, str], deletes: Collection[str]) -> None: ...
    def delete_all(self, room: str, id: str) -> None: ...
    def get_alarm(self, room: str, id: str) -> DueAlarm | None: ...
    def set_alarm(self, room: str, id: str, at_ms: float, retries: int = 0) -> None: ...
    def delete_alarm(self, room: str, id: str) -> None: ...
    def next_alarm(self) -> DueAlarm | None: ...
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    room TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (room, id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarms (
    room TEXT NOT NULL, id TEXT NOT NULL, at_ms REAL NOT NULL, retries INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alarms_by_time ON alarms (at_ms);
"""


class SQLiteStorage:
    """Every instance's state and alarm in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def load(self, room: str, id: str, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE room=? AND id=? AND key=?", (room, id, key)).fetchone()
        return None if row is None else str(row[0])

    def commit(self, room: str, id: str, puts: Mapping[str, str], deletes: Collection[str]) -> None:
        if not puts and not deletes:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if deletes:
                    self._db.executemany(
                        "DELETE FROM kv WHERE room=? AND id=? AND key=?", [(room, id, k) for k in deletes]
                    )
                if puts:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO kv (room, id, key, value) VALUES (?, ?, ?, ?)",
                        [(room, id, k, v) for k, v in puts.items()],
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def delete_all(self, room: str, id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM kv WHERE room=? AND id=?", (room, id))

    def get_alarm(self, room: str, id: str) -> DueAlarm | None:
        with self._lock:
            row = self._db.execute("SELECT at_ms, retries FROM alarms WHERE room=? AND id=?", (room, id)).fetchone()
        return None if row is None else DueAlarm(room, id, float(row[0]), int(row[1]))

    def set_alarm(self, room: str, id: str, at_ms: float, retries: int = 0) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO alarms (room, id, at_ms, retries) VALUES (?, ?, ?, ?)",
                (room, id, at_ms, retries),
            )

    def delete_alarm(self, room: str, id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM alarms WHERE room=? AND id=?", (room, id))

    def next_alarm(self) -> DueAlarm | None:
        with self._lock:
            row = self._db.execute("SELECT room, id, at_ms, retries FROM alarms ORDER BY at_ms LIMIT 1").fetchone()
        return None if row is None else DueAlarm(str(row[0]), str(row[1]), float(row[2]), int(row[3]))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class MemoryStorage:
    """Storage that lives as long as the process (for tests)."""

    def __init__(self) -> None:
        self.kv: dict[tuple[str, str], dict[str, str]] = {}
        self.alarms: dict[tuple[str, str], DueAlarm] = {}

    def load(self, room: str, id: str, key: str) -> str | None:
        return self.kv.get((room, id), {}).get(key)

    def commit(self, room: str, id: str, puts: Mapping[str, str], deletes: Collection[str]) -> None:
        space = self.kv.setdefault((room, id), {})
        for k in deletes:
            space.pop(k, None)
        space.update(puts)

    def delete_all(self, room: str, id: str) -> None:
        self.kv.pop((room, id), None)

    def get_alarm(self, room: str, id: str) -> DueAlarm | None:
        return self.alarms.get((room, id))

    def set_alarm(self, room: str, id: str, at_ms: float, retries: int = 0) -> None:
        self.alarms[(room, id)] = DueAlarm(room, id, at_ms, retries)

    def delete_alarm(self, room: str, id: str) -> None:
        self.alarms.pop((room, id), None)

    def next_alarm(self) -> DueAlarm | None:
        return min(self.alarms.values(), key=lambda a: a.at_ms, default=None)

    def close(self) -> None:
        return None
