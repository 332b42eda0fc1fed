"""Task declarations and handlers that mypy must reject: each marked line is one mistake."""

from __future__ import annotations

from pydantic import BaseModel

from durable_effect.effect import EffectGen, gen, run_promise, succeed
from durable_effect.task import (
    Schema,
    TaggedStruct,
    Task,
    TaskCtx,
    TaskError,
    TaskRegistry,
    make_in_memory_task_runtime,
)


class JobState(BaseModel):
    count: int


class TallyState(BaseModel):
    total: int


class Add(TaggedStruct, tag="Add"):
    by: int


class Credit(TaggedStruct, tag="Credit"):
    amount: int


Job = Task.make("job", state=JobState, event=Schema.union(Add))
Tally = Task.make("tally", state=TallyState, event=Schema.union(Credit))
Bad = Task.make("bad", state=int, event=Schema.union(Add))  # E: type-var
registry = TaskRegistry.make(Job, Tally)
j = registry.for_(Job)
Ctx = TaskCtx[JobState, Add]


@gen
def saves_the_wrong_state(ctx: Ctx, event: Add) -> EffectGen[None, TaskError]:
    yield from ctx.save(TallyState(total=event.by))  # E: arg-type


@gen
def sends_a_sibling_the_wrong_event(ctx: Ctx, event: Add) -> EffectGen[None, object]:
    yield from ctx.task(Tally).send("t1", Add(by=1))  # E: arg-type


@gen
def reads_a_missing_field(ctx: Ctx, event: Add) -> EffectGen[None, TaskError]:
    state = yield from ctx.recall()
    if state is not None:
        yield from ctx.save(JobState(count=state.total))  # E: attr-defined


def ignores_a_maybe_failure(ctx: Ctx) -> int:
    return ctx.system_failure.retry_count  # E: union-attr


def handles_a_credit(ctx: Ctx, event: Credit) -> EffectGen[None]:
    return (yield from succeed(None))


def alarm_with_an_event(ctx: Ctx, event: Add) -> EffectGen[None]:
    return (yield from succeed(None))


def ok_event(ctx: Ctx, event: Add) -> EffectGen[None]:
    return (yield from succeed(None))


j.on_event(gen(handles_a_credit))  # E: arg-type
registry.handler(Job, on_event=gen(handles_a_credit))  # E: arg-type
registry.handler(Job, on_event=gen(ok_event), on_alarm=gen(alarm_with_an_event))  # E: arg-type
registry.handler(Job)  # E: call-overload
rt = make_in_memory_task_runtime(registry.build({"job": registry.handler(Job, on_event=gen(ok_event))}))
rt.task(Job).send("j1", Credit(amount=1))  # E: arg-type


async def reads_state_as_the_wrong_model() -> int:
    state = await run_promise(rt.task(Job).get_state("j1"))
    return 0 if state is None else state.total  # E: attr-defined
