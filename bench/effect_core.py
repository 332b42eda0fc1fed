"""Effect core benchmarks: `python -m bench.effect_core` (or `make bench`).

Every row compares our code with a plain-Python baseline measured in the same
process, each the best of `REPS` repetitions, and prints the ratio:

- handler: a 10-step `@gen` handler run with `await run_promise(handler())`
  against the same handler written as `async def` awaiting 10 trivial
  coroutines, both in one asyncio event loop;
- interpreter: a left-nested chain of 1,000,000 `flat_map` steps run with
  `run_sync`, against a loop making the same continuation calls;
- build: the cost of building that chain (outside the interpreter rows), with
  the garbage collector on and off, against a chain of plain tuples;
- retry: `run_sync(call.retry(Schedule.recurs(3)))` where the call succeeds
  the first time, against a plain `for`/`try` retry loop around the call.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.report import fmt_time as _fmt_time
from bench.report import machine as _machine
from bench.report import verdict as _verdict
from durable_effect.effect import Effect, EffectGen, Schedule, TaggedError, gen, run_promise, run_sync, succeed, sync

REPS = 7
HANDLER_CALLS = 20_000
CHAIN_STEPS = 1_000_000
HANDLER_STEPS = 10
RETRY_CALLS = 50_000


@dataclass(frozen=True)
class Row:
    case: str
    ours: float  # seconds per unit
    baseline: float  # seconds per unit
    unit: str
    goal: float | None

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline


# -- 1. handlers ----------------------------------------------------------------------


def _inc(x: int) -> int:
    return x + 1


def _inc_effect(x: int) -> Effect[int]:
    return succeed(x + 1)


@gen
def handler_succeed() -> EffectGen[int]:
    x0 = yield from succeed(0)
    x1 = yield from succeed(x0 + 1)
    x2 = yield from succeed(x1 + 1)
    x3 = yield from succeed(x2 + 1)
    x4 = yield from succeed(x3 + 1)
    x5 = yield from succeed(x4 + 1)
    x6 = yield from succeed(x5 + 1)
    x7 = yield from succeed(x6 + 1)
    x8 = yield from succeed(x7 + 1)
    x9 = yield from succeed(x8 + 1)
    return x9


@gen
def handler_mixed() -> EffectGen[int]:
    x0 = yield from succeed(0)
    x1 = yield from sync(lambda: x0 + 1)
    x2 = yield from succeed(x1).map(_inc)
    x3 = yield from succeed(x2).flat_map(_inc_effect)
    x4 = yield from sync(lambda: x3 + 1)
    x5 = yield from succeed(x4 + 1)
    x6 = yield from succeed(x5).map(_inc)
    x7 = yield from sync(lambda: x6 + 1)
    x8 = yield from succeed(x7).flat_map(_inc_effect)
    x9 = yield from sync(lambda: x8 + 1)
    return x9


async def step(i: int) -> int:
    return i


async def async_handler_succeed() -> int:
    x0 = await step(0)
    x1 = await step(x0 + 1)
    x2 = await step(x1 + 1)
    x3 = await step(x2 + 1)
    x4 = await step(x3 + 1)
    x5 = await step(x4 + 1)
    x6 = await step(x5 + 1)
    x7 = await step(x6 + 1)
    x8 = await step(x7 + 1)
    x9 = await step(x8 + 1)
    return x9


async def async_handler_mixed() -> int:
    x0 = await step(0)
    x1 = await step(x0 + 1)
    x2 = await step(_inc(x1))
    x3 = await step(_inc(x2))
    x4 = await step(x3 + 1)
    x5 = await step(x4 + 1)
    x6 = await step(_inc(x5))
    x7 = await step(x6 + 1)
    x8 = await step(_inc(x7))
    x9 = await step(x8 + 1)
    return x9


async def _time_effect_handler(handler: Callable[[], Effect[int]], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await run_promise(handler())
    return time.perf_counter() - start


async def _time_async_handler(handler: Callable[[], Awaitable[int]], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await handler()
    return time.perf_counter() - start


async def _handler_rows() -> list[Row]:
    cases: list[tuple[str, Callable[[], Effect[int]], Callable[[], Awaitable[int]]]] = [
        ("handler: 10 succeed steps", handler_succeed, async_handler_succeed),
        ("handler: mixed succeed/sync/map/flat_map", handler_mixed, async_handler_mixed),
    ]
    rows: list[Row] = []
    for name, ours, baseline in cases:
        if await run_promise(ours()) != await baseline():
            raise AssertionError(f"{name}: the two handlers disagree")
        best_ours = best_base = float("inf")
        for _ in range(REPS):  # interleaved, so drift hits both sides alike
            best_ours = min(best_ours, await _time_effect_handler(ours, HANDLER_CALLS))
            best_base = min(best_base, await _time_async_handler(baseline, HANDLER_CALLS))
        rows.append(Row(name, best_ours / HANDLER_CALLS, best_base / HANDLER_CALLS, "call", 2.0))
    return rows


# -- 2. the interpreter alone ------------------------------------------------------------


Steps = list[Callable[[int], Effect[int]]]


def _continuation(x: int) -> Effect[int]:
    return succeed(x + 1)


def _build_chain(steps: Steps) -> Effect[int]:
    chain: Effect[int] = succeed(0)
    for f in steps:
        chain = chain.flat_map(f)
    return chain


def _build_tuples(steps: Steps) -> object:
    chain: object = (0,)
    for f in steps:
        chain = (chain, f)
    return chain


def _plain_loop(steps: Steps) -> int:
    # The same calls the interpreter makes, without the interpreter.
    value = 0
    for f in steps:
        value = f(value).value  # type: ignore[attr-defined]  # a succeed() node, read as the interpreter does
    return value


def _interpreter_row(steps: Steps) -> Row:
    chain = _build_chain(steps)
    if run_sync(chain) != _plain_loop(steps) or run_sync(chain) != CHAIN_STEPS:
        raise AssertionError("interpreter: the chain and the loop disagree")
    best_ours = best_base = float("inf")
    for _ in range(REPS):
        start = time.perf_counter()
        run_sync(chain)
        best_ours = min(best_ours, time.perf_counter() - start)
        start = time.perf_counter()
        _plain_loop(steps)
        best_base = min(best_base, time.perf_counter() - start)
    return Row(
        "interpreter: 1M left-nested flat_map, run_sync",
        best_ours / CHAIN_STEPS,
        best_base / CHAIN_STEPS,
        "step",
        1.3,
    )


def _time_build(build: Callable[[Steps], object], steps: Steps, gc_enabled: bool) -> float:
    gc.collect()
    if not gc_enabled:
        gc.disable()
    try:
        start = time.perf_counter()
        built = build(steps)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    del built  # freed outside the timed region
    return elapsed


def _build_rows(steps: Steps) -> list[Row]:
    rows: list[Row] = []
    for gc_enabled in (True, False):
        best_ours = best_base = float("inf")
        for _ in range(REPS):
            best_ours = min(best_ours, _time_build(_build_chain, steps, gc_enabled))
            best_base = min(best_base, _time_build(_build_tuples, steps, gc_enabled))
        label = "on" if gc_enabled else "off"
        rows.append(
            Row(f"build: 1M flat_map chain, gc {label}", best_ours / CHAIN_STEPS, best_base / CHAIN_STEPS, "step", None)
        )
    return rows


# -- 3. retry, when no retry is needed ---------------------------------------------------


class Unavailable(TaggedError):
    pass


def _call() -> int:
    return 1


def _plain_retry(times: int) -> int:
    for attempt in range(times + 1):
        try:
            return _call()
        except Unavailable:
            if attempt == times:
                raise
    raise AssertionError("unreachable")


def _retry_row() -> Row:
    retried: Effect[int, Unavailable] = sync(_call).retry(Schedule.recurs(3))
    if run_sync(retried) != _plain_retry(3):
        raise AssertionError("retry: the two disagree")
    best_ours = best_base = float("inf")
    for _ in range(REPS):
        start = time.perf_counter()
        for _ in range(RETRY_CALLS):
            run_sync(retried)
        best_ours = min(best_ours, time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(RETRY_CALLS):
            _plain_retry(3)
        best_base = min(best_base, time.perf_counter() - start)
    name = "retry: recurs(3), first call succeeds, run_sync"
    return Row(name, best_ours / RETRY_CALLS, best_base / RETRY_CALLS, "call", None)


# -- report ---------------------------------------------------------------------------------


def _table(rows: list[Row]) -> list[str]:
    header = ("case", "ours", "baseline", "ratio", "goal")
    cells: list[tuple[str, str, str, str, str]] = [header]
    for row in rows:
        goal = "—" if row.goal is None else f"≤ {row.goal:g}x ({_verdict(row.ratio, row.goal)})"
        cells.append(
            (row.case, _fmt_time(row.ours, row.unit), _fmt_time(row.baseline, row.unit), f"{row.ratio:.2f}x", goal)
        )
    widths = [max(len(cell[i]) for cell in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) + " |" for cell in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def main() -> None:
    started = time.perf_counter()
    print("durable_effect.effect core benchmark", *_machine(), sep="\n")
    print(f"best of {REPS}; each ratio is ours / baseline from this run\n", flush=True)
    rows = asyncio.run(_handler_rows())
    steps: Steps = [_continuation] * CHAIN_STEPS
    rows.append(_interpreter_row(steps))
    rows.extend(_build_rows(steps))
    rows.append(_retry_row())
    print("\n".join(_table(rows)))
    gc_on, gc_off = rows[-3].ours, rows[-2].ours
    print(f"\nthe garbage collector takes {1 - gc_off / gc_on:.0%} of the chain build time (gc on vs off)")
    print(
        "baselines: handler = the same steps as `async def` awaiting `async def step(i): return i`;",
        "interpreter = `v = f(v).value` over the same continuations;",
        "build = the same chain as nested `(prev, f)` tuples;",
        "retry = a `for attempt in range(4): try: return call()` loop.",
        sep="\n  ",
    )
    print(f"total time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
