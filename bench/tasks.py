"""Task benchmarks: `python -m bench.tasks` (or `make bench`).

Event throughput on the in-memory host, against a plain-Python baseline
measured in the same process, best of `REPS` repetitions: `Add` events into
one task instance (validate → on_event → recall → save, one commit per
event), driven at the entry point a host calls (`await
instance.send_event(event)`) and through the direct API (`await
run_promise(rt.task(Counter).send(id, event))`), against the same handler
written by hand (type check of the event, the state kept as JSON in a dict,
decoded, updated and encoded again per event).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from bench.report import fmt_time as _fmt_time
from bench.report import machine as _machine
from bench.report import table as _table
from durable_effect.effect import EffectGen, gen, run_promise
from durable_effect.task import Schema, TaggedStruct, Task, TaskCtx, TaskError, TaskRegistry
from durable_effect.task.memory import make_in_memory_task_runtime

REPS = 7
EVENTS = 3_000
ID = "bench"


class Count(BaseModel):
    n: int = 0


class Add(TaggedStruct):
    by: int


Counter = Task.make("counter", state=Count, event=Schema.union(Add))
registry = TaskRegistry.make(Counter)


@gen
def on_event(ctx: TaskCtx[Count, Add], event: Add) -> EffectGen[None, TaskError]:
    state = (yield from ctx.recall()) or Count()
    yield from ctx.save(Count(n=state.n + event.by))


config = registry.build({"counter": registry.handler(Counter, on_event=on_event)})


class PlainTask:
    """The counter written by hand: no engine, no effects, no lock, no transaction."""

    def __init__(self) -> None:
        self.storage: dict[str, str] = {}

    async def send(self, event: object) -> None:
        if not isinstance(event, Add):
            raise TypeError("not an Add")
        raw = self.storage.get("state")
        state = Count() if raw is None else Count.model_validate_json(raw)
        self.storage["state"] = Count(n=state.n + event.by).model_dump_json()


async def _best(*runs: Callable[[], Awaitable[None]]) -> list[float]:
    """The best CPU time of each run over `REPS` rounds, the runs interleaved in
    every round so that a busy machine slows them alike."""
    best = [float("inf")] * len(runs)
    for _ in range(REPS):
        for i, run in enumerate(runs):
            start = time.process_time()
            await run()
            best[i] = min(best[i], time.process_time() - start)
    return best


async def _rows() -> list[tuple[str, float, float]]:
    rt = make_in_memory_task_runtime(config)
    instance = rt.task_instance(Counter.name, ID)
    handle = rt.task(Counter)
    plain = PlainTask()
    event = Add(by=1)

    async def entry() -> None:
        for _ in range(EVENTS):
            await instance.send_event(event)

    async def direct() -> None:
        for _ in range(EVENTS):
            await run_promise(handle.send(ID, event))

    async def by_hand() -> None:
        for _ in range(EVENTS):
            await plain.send(event)

    base, ours_entry, ours_direct = await _best(by_hand, entry, direct)
    state = await run_promise(handle.get_state(ID))
    if state is None or state.n != 2 * REPS * EVENTS:
        raise AssertionError("the task did not count every event")
    if json.loads(plain.storage["state"]) != {"n": REPS * EVENTS}:
        raise AssertionError("the plain handler did not count every event")
    return [
        ("Add → counter task, host entry (send_event)", ours_entry / EVENTS, base / EVENTS),
        ("Add → counter task, direct API (task.send)", ours_direct / EVENTS, base / EVENTS),
    ]


def _report(rows: list[tuple[str, float, float]]) -> list[str]:
    cells: list[tuple[str, ...]] = [
        (
            case,
            f"{1 / ours:,.0f} events/s ({_fmt_time(ours, 'event')})",
            f"{1 / base:,.0f} events/s ({_fmt_time(base, 'event')})",
            f"{ours / base:.2f}x",
        )
        for case, ours, base in rows
    ]
    return _table(("case", "ours", "plain Python", "ratio (time)"), cells)


def main() -> None:
    started = time.perf_counter()
    print("\ndurable_effect.task benchmark (in-memory host)", *_machine(), sep="\n")
    print(f"best of {REPS} interleaved rounds, {EVENTS:,} events each", flush=True)
    print("each ratio is ours / baseline from this run\n", flush=True)
    rows = asyncio.run(_rows())
    print("\n".join(_report(rows)))
    print("\nbaseline: type check, JSON state in a dict decoded, updated and encoded per event.")
    print(f"total time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
