"""The reminders example on the Cloudflare host, inside Pyodide: a room and a
task, Durable Objects of two classes in one Worker. The room's event reaches
the task's object through the TASKS namespace; the task's alarm, fired by the
harness as the runtime would, broadcasts into the room's object through ROOMS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .node_harness import NodeHarness

WORKER = "https://reminders.example"


@pytest.fixture(scope="module")
def worker(harness: NodeHarness) -> NodeHarness:
    harness.py("import reminders_app\n'null'")
    # A socket group and a task group in one Worker, each class found by its own name.
    bindings = [{"name": "ROOMS", "class_name": "RemindersDO"}, {"name": "TASKS", "class_name": "ReminderTaskDO"}]
    exported = harness.call("main", module="reminders_app", bindings=bindings)
    assert sorted(exported["durableObjects"]) == ["ReminderTaskDO", "RemindersDO"]
    return harness


def task_state(h: NodeHarness) -> Any:
    answer = h.call("request", url=f"{WORKER}/task/reminder/kitchen/state")
    assert answer["status"] == 200, answer
    return json.loads(answer["body"])


def test_a_room_schedules_a_reminder_and_the_task_alarm_broadcasts_it(worker: NodeHarness) -> None:
    h = worker
    answer = h.call("request", url=f"{WORKER}/ws/reminders/kitchen?name=ann", websocket=True)
    assert answer["status"] == 101, answer
    ann: int = answer["client"]

    h.send_json(ann, {"_tag": "Remind", "text": "tea", "in_ms": 0})
    (scheduled,) = h.messages(ann)
    assert (scheduled["_tag"], scheduled["text"], scheduled["by"]) == ("Scheduled", "tea", "ann")
    state = task_state(h)
    assert [i["text"] for i in state["items"]] == ["tea"]
    assert state["room_id"] == "kitchen"

    fired = h.call("alarm", binding="TASKS", name="reminder:kitchen")
    assert (fired["ran"], fired["ok"]) == (True, True), fired
    assert h.messages(ann) == [{"_tag": "Reminder", "text": "tea"}]
    assert task_state(h) is None  # nothing left: the task purged itself
