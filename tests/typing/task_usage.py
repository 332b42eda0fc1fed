"""Task code that must type-check, revealing exactly the types its `# N:` comments promise."""

from __future__ import annotations

from typing import reveal_type

from pydantic import BaseModel

from durable_effect.effect import EffectGen, Layer, Service, gen, run_promise
from durable_effect.task import (
    Handler,
    Schema,
    TaggedStruct,
    Task,
    TaskCtx,
    TaskError,
    TaskRegistry,
    make_in_memory_task_runtime,
    with_services,
)


class Count(BaseModel):
    n: int


class Add(TaggedStruct, tag="Add"):
    by: int


class Reset(TaggedStruct, tag="Reset"):
    pass


class Mailer(Service):
    def send(self, to: str) -> None:
        raise NotImplementedError


Counter = Task.make("counter", state=Count, event=Schema.union(Add, Reset))
registry = TaskRegistry.make(Counter)
reveal_type(Counter)  # N: Revealed type is "durable_effect.task.task.Task[task_usage.Count, task_usage.Add | task_usage.Reset]"
c = registry.for_(Counter)
Ctx = TaskCtx[Count, Add | Reset]


@c.on_event
@gen
def on_event(ctx: Ctx, event: Add | Reset) -> EffectGen[None, TaskError, Mailer]:
    state = yield from ctx.recall()
    reveal_type(state)  # N: Revealed type is "task_usage.Count | None"
    reveal_type(ctx.system_failure)  # N: Revealed type is "durable_effect.platform.instance.SystemFailure | None"
    mailer = yield from Mailer
    mailer.send("ops")
    match event:
        case Add(by=by):
            yield from ctx.save(Count(n=(state.n if state else 0) + by))
        case Reset():
            yield from ctx.save(Count(n=0))


@gen
def on_alarm(ctx: Ctx) -> EffectGen[None, TaskError]:
    at = yield from ctx.next_alarm()
    reveal_type(at)  # N: Revealed type is "float | None"
    yield from ctx.update(lambda s: Count(n=s.n + 1))


@gen
def recover(ctx: Ctx, err: TaskError) -> EffectGen[None, TaskError]:
    yield from ctx.save(Count(n=-1))


guarded = Handler(on_event, on_error=recover)  # named first, so on_error's error is the handler's E
bundle = registry.handler(Counter, on_event=guarded, on_alarm=on_alarm)
reveal_type(bundle)  # N: Revealed type is "durable_effect.task.registry.TaskHandlers[task_usage.Count, task_usage.Add | task_usage.Reset, task_usage.Mailer]"
provided = with_services(bundle, Layer.succeed(Mailer, Mailer()))
reveal_type(provided)  # N: Revealed type is "durable_effect.task.registry.TaskHandlers[task_usage.Count, task_usage.Add | task_usage.Reset, Never]"
rt = make_in_memory_task_runtime(registry.build({"counter": provided}))
handle = rt.task(Counter)
reveal_type(handle)  # N: Revealed type is "durable_effect.task.client.TaskHandle[task_usage.Count, task_usage.Add | task_usage.Reset]"
reveal_type(rt.task("counter"))  # N: Revealed type is "durable_effect.task.client.TaskHandle[pydantic.main.BaseModel, durable_effect.sockets.schema.TaggedStruct]"


async def story() -> None:
    await run_promise(handle.send("c1", Add(by=2)))
    state = await run_promise(handle.get_state("c1"))
    reveal_type(state)  # N: Revealed type is "task_usage.Count | None"
    reveal_type(handle.send("c1", Reset()))  # N: Revealed type is "durable_effect.effect._core.Effect[None, durable_effect.task.errors.TaskError | durable_effect.task.errors.TaskValidationError | durable_effect.task.errors.TaskExecutionError | durable_effect.task.errors.TaskNotFoundError, Never]"
