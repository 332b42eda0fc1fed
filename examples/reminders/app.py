"""Reminders: a room that schedules reminders through a task, and a task whose
alarm broadcasts into the room.

- The `reminders` room: members send `Remind(text, in_ms)`; the room hands
  it to the `reminder` task (one instance per room id) and tells everyone it
  is `Scheduled`.
- The `reminder` task keeps the pending reminders, sets its alarm to the
  earliest, and when the alarm fires broadcasts each due `Reminder` into the
  room, then schedules the next one.

The room reaches the task through `TaskClientService`, the task reaches the
room through `SocketClientService`: each host provides both.
"""

from __future__ import annotations

from pydantic import BaseModel

from durable_effect.effect import EffectGen, current_time_millis, gen
from durable_effect.sockets import RoomCtx, Schema, SocketClientService, SocketRegistry, TaggedStruct, WebSocketRoom
from durable_effect.task import Task, TaskClientService, TaskCtx, TaskRegistry

# -- the room ------------------------------------------------------------------------------


class Member(BaseModel):
    name: str


class RoomState(BaseModel):
    scheduled: int = 0


class Remind(TaggedStruct):
    text: str
    in_ms: float


class Scheduled(TaggedStruct):
    text: str
    at_ms: float
    by: str


class Reminder(TaggedStruct):
    text: str


Reminders = WebSocketRoom.make(
    "reminders",
    state=RoomState,
    connection=Member,
    event=Schema.union(Remind),
    broadcast=Schema.union(Scheduled, Reminder),
)

# -- the task ------------------------------------------------------------------------------


class Item(BaseModel):
    text: str
    at_ms: float


class Pending(BaseModel):
    room_id: str
    items: list[Item] = []


class Add(TaggedStruct):
    room_id: str
    text: str
    at_ms: float


ReminderTask = Task.make("reminder", state=Pending, event=Schema.union(Add))

rooms = SocketRegistry.make(Reminders)
tasks = TaskRegistry.make(ReminderTask)

# -- handlers ------------------------------------------------------------------------------

RoomCtxT = RoomCtx[RoomState, Member, Remind, Scheduled | Reminder]
TaskCtxT = TaskCtx[Pending, Add]


@gen
def on_remind(ctx: RoomCtxT, ev: Remind) -> EffectGen[None, object, TaskClientService]:
    now = yield from current_time_millis()
    at_ms = now + ev.in_ms
    client = yield from TaskClientService
    yield from client.task(ReminderTask).send(ctx.id, Add(room_id=ctx.id, text=ev.text, at_ms=at_ms))
    state = yield from ctx.recall()
    yield from ctx.save(RoomState(scheduled=(state.scheduled if state else 0) + 1))
    by = ctx.connection.state.name if ctx.connection is not None else "api"
    yield from ctx.broadcast(Scheduled(text=ev.text, at_ms=at_ms, by=by))


@gen
def on_add(ctx: TaskCtxT, ev: Add) -> EffectGen[None, object]:
    state = yield from ctx.recall()
    items = sorted([*(state.items if state else []), Item(text=ev.text, at_ms=ev.at_ms)], key=lambda i: i.at_ms)
    yield from ctx.save(Pending(room_id=ev.room_id, items=items))
    yield from ctx.schedule_at(items[0].at_ms)


@gen
def on_due(ctx: TaskCtxT) -> EffectGen[None, object, SocketClientService]:
    state = yield from ctx.recall()
    if state is None:
        return
    now = yield from current_time_millis()
    due = [i for i in state.items if i.at_ms <= now]
    later = [i for i in state.items if i.at_ms > now]
    room = (yield from SocketClientService).room(Reminders)
    for item in due:
        yield from room.broadcast(state.room_id, Reminder(text=item.text))
    if later:
        yield from ctx.save(Pending(room_id=state.room_id, items=later))
        yield from ctx.schedule_at(later[0].at_ms)
    else:
        yield from ctx.purge()  # nothing left: the instance goes away


room_config = rooms.build({"reminders": rooms.handler(Reminders, on_event=on_remind)})
task_config = tasks.build({"reminder": tasks.handler(ReminderTask, on_event=on_add, on_alarm=on_due)})
