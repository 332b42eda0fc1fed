"""Tasks on the self-hosted server: the HTTP direct API, a namespace of their
own in the shared storage, and alarms that survive a restart."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from durable_effect.effect import EffectGen, TestClock, gen, run_promise
from durable_effect.platform.memory import START_MS
from durable_effect.sockets.server import SocketServer, SQLiteStorage
from durable_effect.task import Schema, TaggedStruct, Task, TaskCtx, TaskRegistry
from tests.task.tasks import JOB, Add, Job, JobState, Probe, Schedule, job_config

from .server_helpers import http, serve
from .server_rooms import config as rooms_config

pytestmark = pytest.mark.anyio


class Bump(TaggedStruct):
    pass


Notes = Task.make("notes", state=JobState, event=Schema.union(Bump))
"""A task named like the suite's room: names must not collide in storage."""


def _server(path: Path, clock: TestClock) -> SocketServer:
    return SocketServer(rooms_config, storage=SQLiteStorage(path), clock=clock, tasks=job_config(Probe()))


async def test_the_task_http_api(tmp_path: Path) -> None:
    server = _server(tmp_path / "db.sqlite", TestClock(START_MS))
    async with serve(server) as addr:
        api = f"http://{addr}/task/job/{JOB}"
        assert await http("GET", f"{api}/state") == (200, None)
        assert await http("POST", f"{api}/send", {"_tag": "Add", "by": 2}) == (200, {"status": "ok"})
        assert await http("GET", f"{api}/state") == (200, {"count": 2, "notes": []})
        assert await http("POST", f"{api}/alarm") == (200, {"status": "ok"})
        assert await http("GET", f"{api}/state") == (200, {"count": 102, "notes": []})

        # A bad event is refused before any handler runs; a failing handler is a 500.
        status, body = await http("POST", f"{api}/send", {"_tag": "Add", "by": "many"})
        assert (status, body["error"]["_tag"]) == (422, "TaskValidationError")
        status, body = await http("POST", f"{api}/send", {"_tag": "AddThenFail"})
        assert (status, body["error"]["_tag"]) == (500, "TaskExecutionError")
        status, body = await http("POST", f"{api}/send", raw=b"{not json")
        assert status == 400
        assert await http("GET", f"{api}/state") == (200, {"count": 102, "notes": []})

        status, body = await http("GET", f"http://{addr}/task/nosuchtask/x/state")
        assert (status, body["error"]["_tag"]) == (404, "TaskNotFoundError")
        status, _ = await http("GET", f"{api}/nosuchaction")
        assert status == 404


async def test_a_task_and_a_room_of_one_name_keep_apart(tmp_path: Path) -> None:
    registry = TaskRegistry.make(Notes)

    @gen
    def on_event(ctx: TaskCtx[JobState, Bump], ev: Bump) -> EffectGen[None, object]:
        state = yield from ctx.recall()
        yield from ctx.save(JobState(count=(state.count if state else 0) + 1))

    server = SocketServer(
        rooms_config,
        storage=SQLiteStorage(tmp_path / "db.sqlite"),
        tasks=registry.build({"notes": registry.handler(Notes, on_event=on_event)}),
    )
    async with serve(server) as addr:
        assert await http("POST", f"http://{addr}/task/notes/n1/send", {"_tag": "Bump"}) == (200, {"status": "ok"})
        assert await http("POST", f"http://{addr}/api/notes/n1/send", {"_tag": "Add", "text": "hi"}) == (
            200,
            {"status": "ok"},
        )
        assert await http("GET", f"http://{addr}/task/notes/n1/state") == (200, {"count": 1, "notes": []})
        status, room_state = await http("GET", f"http://{addr}/api/notes/n1/state")
        assert status == 200 and room_state["count"] == 1 and room_state["last"] == "hi"


async def test_a_task_alarm_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first = _server(path, TestClock(START_MS))
    assert first.tasks is not None
    await run_promise(first.tasks.client.task(Job).send(JOB, Add(by=1)))
    await run_promise(first.tasks.client.task(Job).send(JOB, Schedule(in_ms=5_000)))
    first.storage.close()

    # A new process on the same file, its clock past the alarm: the scheduler fires it.
    second = _server(path, TestClock(START_MS + 10_000))
    assert second.tasks is not None
    job = second.tasks.client.task(Job)
    async with second.running():
        with anyio.fail_after(5):
            while await run_promise(job.get_state(JOB)) != JobState(count=101):
                await anyio.sleep(0.01)
    assert second.storage.next_alarm() is None
    second.storage.close()


async def test_idle_task_instances_are_evicted_and_come_back_from_storage(tmp_path: Path) -> None:
    server = SocketServer(
        rooms_config,
        storage=SQLiteStorage(tmp_path / "db.sqlite"),
        tasks=job_config(Probe()),
        hibernate_after=0.5,
    )
    assert server.tasks is not None
    async with serve(server) as addr:
        for n in range(20):  # twenty ids, each used once: none may stay in memory for good
            api = f"http://{addr}/task/job/j{n}"
            assert await http("POST", f"{api}/send", {"_tag": "Add", "by": n}) == (200, {"status": "ok"})
        assert server.tasks.is_loaded("job", "j19")  # just used: not idle yet
        with anyio.fail_after(5):
            while any(server.tasks.is_loaded("job", f"j{n}") for n in range(20)):
                await anyio.sleep(0.02)
        assert server.tasks._last_used == {}  # nothing is kept per evicted id either
        # The state was in storage: a new instance reads it.
        assert await http("GET", f"http://{addr}/task/job/j3/state") == (200, {"count": 3, "notes": []})
        assert server.tasks.is_loaded("job", "j3")
