"""A live instance reads its stored state once: later runs use the state as
last committed (storage is the durable copy, as a Durable Object's cache)."""

from __future__ import annotations

import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets.server import MemoryStorage

from .server_rooms import Add, Notes, NotesState, build


class CountingStorage(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []

    def load(self, room: str, id: str, key: str) -> str | None:
        self.loads.append(key)
        return super().load(room, id, key)


@pytest.mark.anyio
async def test_the_state_is_read_once_per_live_instance() -> None:
    storage = CountingStorage()
    server = build(storage)
    notes = server.client().room(Notes)
    for i in range(5):
        await run_promise(notes.send("n1", Add(text=f"t{i}")))
    assert storage.loads.count("state") == 1
    assert await run_promise(notes.get_state("n1")) == NotesState(count=5, last="t4")

    server.hibernate("notes", "n1")  # a fresh instance reads it again, once
    await run_promise(notes.send("n1", Add(text="after")))
    await run_promise(notes.send("n1", Add(text="again")))
    assert storage.loads.count("state") == 2
    assert storage.load("notes", "n1", "state") == NotesState(count=7, last="again").model_dump_json()
