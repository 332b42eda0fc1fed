"""Small tasks for the task contract suite, and a `Probe` that records what handlers saw.

`Job` is the workhorse: its events drive every task operation (state, failed
runs, on_error, purge, alarms, sibling dispatch, services) and its handlers
write what they observe into a `Probe`. `Tally` is a sibling task.

Nothing here is host-specific: the suite runs these tasks on whatever runtime
the `make_runtime` fixture (tests/task/conftest.py) gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from durable_effect.effect import EffectGen, Layer, Service, TaggedError, gen
from durable_effect.platform import Storage
from durable_effect.task import (
    Handler,
    Schema,
    SystemFailure,
    TaggedStruct,
    Task,
    TaskConfig,
    TaskCtx,
    TaskHandlers,
    TaskRegistry,
    with_services,
)

JOB = "j1"
"""The instance id most stories use."""


class JobState(BaseModel):
    count: int = 0
    notes: list[str] = []


class Add(TaggedStruct):
    by: int = 1


class AddThenFail(TaggedStruct):
    """Save and schedule an alarm, then fail with a typed error (or, with `raise_`, raise: a defect)."""

    by: int = 1
    raise_: bool = False


class AddThenPurge(TaggedStruct):
    """Save, then purge."""


class Schedule(TaggedStruct):
    in_ms: float | None = None
    at_ms: float | None = None
    cancel: bool = False


class Forward(TaggedStruct):
    """Credit a `Tally` instance, then read its state back into a note."""

    tally_id: str
    amount: int


class CallSelf(TaggedStruct):
    """Send to this very instance through the client (which must fail, not hang)."""


class Remember(TaggedStruct):
    """Write a key through the `Storage` platform service, and read it back."""

    key: str
    value: str


class Greet(TaggedStruct):
    """Use a service given with `with_services`."""


JobEvent = Add | AddThenFail | AddThenPurge | Schedule | Forward | CallSelf | Remember | Greet

Job = Task.make(
    "job",
    state=JobState,
    event=Schema.union(Add, AddThenFail, AddThenPurge, Schedule, Forward, CallSelf, Remember, Greet),
)


class TallyState(BaseModel):
    total: int = 0


class Credit(TaggedStruct):
    amount: int


Tally = Task.make("tally", state=TallyState, event=Schema.union(Credit))

registry = TaskRegistry.make(Job, Tally)


class Oops(TaggedError):
    message: str


class Greeter(Service):
    def __init__(self, word: str) -> None:
        self.word = word


@dataclass
class Probe:
    """What the handlers saw, in order."""

    errors: list[object] = field(default_factory=list)
    alarm_runs: list[SystemFailure | None] = field(default_factory=list)
    failures_seen: list[SystemFailure | None] = field(default_factory=list)
    next_alarms: list[float | None] = field(default_factory=list)
    alarm_failures_left: int = 0
    purge_in_alarm: bool = False
    stored: list[str | None] = field(default_factory=list)


OnError = Literal["none", "record", "fail"]
JobCtx = TaskCtx[JobState, JobEvent]


def _count(state: JobState | None) -> int:
    return state.count if state is not None else 0


def job_handlers(probe: Probe, on_error: OnError = "none") -> TaskHandlers[JobState, JobEvent]:
    j = registry.for_(Job)

    @j.on_event
    @gen
    def on_event(ctx: JobCtx, ev: JobEvent) -> EffectGen[None, object, Greeter | Storage]:
        probe.failures_seen.append(ctx.system_failure)
        match ev:
            case Add(by=by):
                state = yield from ctx.recall()
                yield from ctx.save(JobState(count=_count(state) + by, notes=state.notes if state else []))
            case AddThenFail(by=by, raise_=raise_):
                state = yield from ctx.recall()
                yield from ctx.save(JobState(count=_count(state) + by))
                yield from ctx.schedule_in(1_000)
                if raise_:
                    raise RuntimeError("raised after saving")
                yield from Oops("failed after saving")
            case AddThenPurge():
                yield from ctx.update(lambda s: JobState(count=s.count + 1))
                yield from ctx.purge()
            case Schedule(in_ms=in_ms, at_ms=at_ms, cancel=cancel):
                if in_ms is not None:
                    yield from ctx.schedule_in(in_ms)
                if at_ms is not None:
                    yield from ctx.schedule_at(at_ms)
                if cancel:
                    yield from ctx.cancel_schedule()
                probe.next_alarms.append((yield from ctx.next_alarm()))
            case Forward(tally_id=tally_id, amount=amount):
                tally = ctx.task(Tally)
                yield from tally.send(tally_id, Credit(amount=amount))
                after = yield from tally.get_state(tally_id)
                note = f"tally={after.total if after else None}"
                yield from ctx.save(JobState(count=0, notes=[note]))
            case CallSelf():
                yield from ctx.task(Job).send(ctx.id, Add(by=1))
            case Remember(key=key, value=value):
                storage = yield from Storage
                yield from storage.put(key, value)
                probe.stored.append((yield from storage.get(key)))
            case Greet():
                greeter = yield from Greeter
                yield from ctx.save(JobState(notes=[greeter.word]))

    @j.on_alarm
    @gen
    def on_alarm(ctx: JobCtx) -> EffectGen[None, object]:
        probe.alarm_runs.append(ctx.system_failure)
        probe.next_alarms.append((yield from ctx.next_alarm()))
        if probe.purge_in_alarm:
            yield from ctx.purge()
        yield from ctx.update(lambda s: JobState(count=s.count + 100, notes=s.notes))
        if probe.alarm_failures_left > 0:
            probe.alarm_failures_left -= 1
            yield from Oops("alarm failed")

    @gen
    def record_error(ctx: JobCtx, err: object) -> EffectGen[None, object]:
        probe.errors.append(err)
        state = yield from ctx.recall()  # the stored state: the failed run's save is gone
        yield from ctx.save(JobState(count=_count(state), notes=[*(state.notes if state else []), "recovered"]))
        if on_error == "fail":
            yield from Oops("on_error failed too")

    event = on_event if on_error == "none" else Handler(on_event, on_error=record_error)
    return registry.handler(Job, on_event=event, on_alarm=on_alarm)


def tally_handlers() -> TaskHandlers[TallyState, Credit]:
    @gen
    def on_event(ctx: TaskCtx[TallyState, Credit], ev: Credit) -> EffectGen[None, object]:
        state = yield from ctx.recall()
        yield from ctx.save(TallyState(total=(state.total if state else 0) + ev.amount))

    return registry.handler(Tally, on_event=on_event)


def job_config(probe: Probe, *, on_error: OnError = "none", greeting: str = "hello") -> TaskConfig:
    job = with_services(job_handlers(probe, on_error), Layer.succeed(Greeter, Greeter(greeting)))
    return registry.build({"job": job, "tally": tally_handlers()})
