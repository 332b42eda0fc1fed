"""The reminders Worker the Pyodide test deploys into its harness: the room and
the task of `examples/reminders` as Durable Objects of two classes
(`RemindersDO` bound as ROOMS, `ReminderTaskDO` as TASKS), behind a small
fetch entry.

    GET /ws/reminders/{id}?name=NAME    WebSocket upgrade into the room
    GET /task/reminder/{id}/state       the task's state (JSON, or null)

Only imported inside Pyodide, where the harness provides `workers` and `js`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from workers import Response, WorkerEntrypoint

from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, UpgradeOpts
from examples.reminders.app import Member, Reminders, ReminderTask
from examples.reminders.worker import rooms_group, tasks_group

RemindersDO = rooms_group.DO  # exported under the class's own name, wrangler's class_name
ReminderTaskDO = tasks_group.DO


class Default(WorkerEntrypoint):
    async def fetch(self, request: Any) -> Any:
        url = urlsplit(str(request.url))
        match [p for p in url.path.split("/") if p]:
            case ["ws", "reminders", room_id]:
                name = parse_qs(url.query).get("name", ["anon"])[0]
                opts = UpgradeOpts(ConnectionInit(Member(name=name), id=name))
                rooms = rooms_group.client(self.env.ROOMS)
                return await run_promise(rooms.room(Reminders).upgrade(room_id, request, opts))
            case ["task", "reminder", task_id, "state"]:
                tasks = tasks_group.client(self.env.TASKS)
                state = await run_promise(tasks.task(ReminderTask).get_state(task_id))
                body = json.dumps(None if state is None else state.model_dump(mode="json"))
                return Response(body, headers={"content-type": "application/json"})
        return Response("not found", status=404)
