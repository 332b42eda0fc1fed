"""Running effects: `run_sync`, `run_promise` and their `_exit` forms, on
asyncio and trio; interruption; and the interpreter's stack safety."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Never

import anyio
import pytest

from durable_effect.effect import (
    AsyncEffectInSyncRun,
    Die,
    Effect,
    EffectGen,
    Fail,
    Failure,
    Interrupt,
    Success,
    TaggedError,
    all,
    catch_tag,
    die,
    ensuring,
    fail,
    gen,
    interrupt,
    never,
    promise,
    run_promise,
    run_promise_exit,
    run_sync,
    run_sync_exit,
    sleep,
    succeed,
    suspend,
    sync,
    timeout,
)
from durable_effect.effect.cause import InterruptedError_

DEPTH = 1_000_000


class NotFound(TaggedError):
    id: str


def _explode(err: Exception) -> int:
    raise err


# -- run_sync ------------------------------------------------------------------------


def test_run_sync_returns_the_value_and_run_sync_exit_the_exit() -> None:
    assert run_sync(succeed(1).map(lambda n: n + 1)) == 2
    assert run_sync_exit(succeed(1)) == Success(1)


def test_run_sync_raises_a_typed_failure_as_the_error_itself() -> None:
    err = NotFound("a")

    with pytest.raises(NotFound) as info:
        run_sync(fail(err))
    assert info.value is err
    assert run_sync_exit(fail(err)) == Failure(Fail(err))


def test_run_sync_reraises_a_defect_as_the_original_exception_with_its_traceback() -> None:
    err = LookupError("gone")

    with pytest.raises(LookupError) as info:
        run_sync(sync(lambda: _explode(err)))
    assert info.value is err
    assert "_explode" in [frame.name for frame in traceback.extract_tb(err.__traceback__)]


def test_run_sync_raises_interrupted_error_for_an_interrupted_effect() -> None:
    stopped: Effect[int] = interrupt()

    with pytest.raises(InterruptedError_):
        run_sync(stopped)
    assert run_sync_exit(stopped) == Failure(Interrupt())


def test_run_sync_on_an_effect_that_waits_is_an_async_effect_in_sync_run_defect() -> None:
    with pytest.raises(AsyncEffectInSyncRun, match="run_promise"):
        run_sync(sleep("10 millis"))

    ex = run_sync_exit(sleep("10 millis"))
    assert isinstance(ex, Failure)
    assert isinstance(ex.cause, Die)
    assert isinstance(ex.cause.defect, AsyncEffectInSyncRun)


@pytest.mark.parametrize(
    "waiting",
    [
        pytest.param(never, id="never"),
        pytest.param(promise(anyio.lowlevel.checkpoint), id="promise"),
        pytest.param(succeed(1).pipe(timeout("1 second")), id="timeout"),
        pytest.param(all([succeed(1), succeed(2)], concurrency=2), id="concurrent-all"),
    ],
)
def test_run_sync_refuses_every_kind_of_waiting_effect(waiting: Effect[object]) -> None:
    ex = run_sync_exit(waiting)

    assert isinstance(ex, Failure)
    assert [type(d) for d in ex.cause.defects()] == [AsyncEffectInSyncRun]


def test_run_sync_still_runs_finalizers_of_an_effect_that_waits() -> None:
    events: list[str] = []

    ex = run_sync_exit(sleep("1 second").pipe(ensuring(sync(lambda: events.append("finalizer")))))

    assert isinstance(ex, Failure)
    assert isinstance(ex.cause, Die)
    assert events == ["finalizer"]


# -- run_promise (asyncio and trio) ---------------------------------------------------


@pytest.mark.anyio
async def test_run_promise_returns_the_value(anyio_backend: str) -> None:
    async def backend_name() -> str:
        await anyio.sleep(0)
        return anyio_backend

    assert await run_promise(promise(backend_name).map(str.upper)) == anyio_backend.upper()
    assert await run_promise_exit(succeed(1)) == Success(1)


@pytest.mark.anyio
async def test_run_promise_raises_a_typed_failure_as_the_error_itself() -> None:
    err = NotFound("b")
    failing: Effect[int, NotFound] = sleep(0).flat_map(lambda _: fail(err))

    with pytest.raises(NotFound) as info:
        await run_promise(failing)
    assert info.value is err
    assert await run_promise_exit(failing) == Failure(Fail(err))


@pytest.mark.anyio
async def test_run_promise_reraises_a_defect_as_the_original_exception() -> None:
    err = LookupError("gone")
    dying = sleep(0).flat_map(lambda _: sync(lambda: _explode(err)))

    with pytest.raises(LookupError) as info:
        await run_promise(dying)
    assert info.value is err
    assert "_explode" in [frame.name for frame in traceback.extract_tb(err.__traceback__)]
    assert await run_promise_exit(dying) == Failure(Die(err))


@pytest.mark.anyio
async def test_run_promise_raises_interrupted_error_for_interrupt() -> None:
    stopped: Effect[int] = sleep(0).flat_map(lambda _: interrupt())

    with pytest.raises(InterruptedError_):
        await run_promise(stopped)
    assert await run_promise_exit(stopped) == Failure(Interrupt())


@pytest.mark.anyio
async def test_cancelling_run_promise_from_outside_runs_finalizers_and_propagates() -> None:
    events: list[str] = []

    async def async_cleanup() -> None:
        await anyio.sleep(0)
        events.append("async finalizer")

    eff = never.pipe(
        ensuring(sync(lambda: events.append("inner finalizer"))),
        ensuring(promise(async_cleanup)),
    )

    scope = anyio.CancelScope()

    async def caller() -> None:
        with scope:
            await run_promise(eff)
            events.append("run_promise returned")

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        assert events == []
        scope.cancel()

    assert scope.cancelled_caught
    assert events == ["inner finalizer", "async finalizer"]


@pytest.mark.anyio
async def test_cancelling_run_promise_exit_propagates_instead_of_returning_an_exit() -> None:
    results: list[object] = []

    with anyio.CancelScope() as scope:
        scope.cancel()
        results.append(await run_promise_exit(sleep("1 second")))

    assert scope.cancelled_caught
    assert results == []


@pytest.mark.anyio
async def test_interruption_is_not_swallowed_by_exit_or_error_handlers() -> None:
    reached: list[object] = []

    def recover(err: NotFound) -> Effect[str]:
        return succeed("recovered")

    may_fail: Effect[Never, NotFound] = never  # a catch needs an error that can occur
    eff = may_fail.pipe(catch_tag(NotFound, recover)).exit()

    with anyio.move_on_after(0.01) as scope:
        reached.append(await run_promise(eff))

    assert scope.cancelled_caught
    assert reached == []


@pytest.mark.anyio
async def test_move_on_after_interrupts_a_sleeping_effect_and_runs_its_finalizer() -> None:
    events: list[str] = []

    with anyio.move_on_after(0.01):
        await run_promise(sleep("1 hour").pipe(ensuring(sync(lambda: events.append("finalizer")))))

    assert events == ["finalizer"]


# -- stack safety ----------------------------------------------------------------------


def _inc(n: int) -> Effect[int]:
    return succeed(n + 1)


def _add_one(n: int) -> int:
    return n + 1


def test_a_million_left_nested_flat_maps_do_not_overflow_the_stack() -> None:
    eff = succeed(0)
    for _ in range(DEPTH):
        eff = eff.flat_map(_inc)

    assert run_sync(eff) == DEPTH


def _count_down(n: int) -> Effect[str]:
    if n == 0:
        return succeed("done")
    return sync(lambda: n).flat_map(lambda k: _count_down(k - 1))


def test_a_million_right_nested_flat_maps_built_lazily_do_not_overflow_the_stack() -> None:
    assert run_sync(_count_down(DEPTH)) == "done"


def _sum_to(n: int) -> Effect[int]:
    """Each step leaves a pending `map` behind: a million continuations deep."""
    if n == 0:
        return succeed(0)
    return succeed(n).flat_map(lambda k: _sum_to(k - 1).map(lambda total: total + k))


def test_many_pending_continuations_built_lazily_do_not_overflow_the_stack() -> None:
    # 200,000 keeps this fast: with every continuation alive at once, CPython's
    # garbage collector, not the interpreter, dominates the time.
    depth = 200_000

    assert run_sync(_sum_to(depth)) == depth * (depth + 1) // 2


def test_a_gen_with_a_million_yield_froms_does_not_overflow_the_stack() -> None:
    step = succeed(1).map(_add_one)

    @gen
    def loop() -> EffectGen[int]:
        total = 0
        for _ in range(DEPTH):
            total += yield from step
        return total

    assert run_sync(loop()) == 2 * DEPTH


def test_a_gen_recursing_into_itself_deeply_does_not_overflow_the_stack() -> None:
    @gen
    def depth(n: int) -> EffectGen[int]:
        if n == 0:
            return 0
        below = yield from depth(n - 1)
        return below + 1

    assert run_sync(depth(100_000)) == 100_000


def test_a_failure_travels_through_a_million_steps_to_its_handler() -> None:
    mapped: list[int] = []
    eff: Effect[int, NotFound] = fail(NotFound("bottom"))
    for _ in range(DEPTH):
        eff = eff.map(_add_one)

    def reached_the_top(n: int) -> str:
        mapped.append(n)
        return "unreachable"

    def recover(err: NotFound) -> Effect[str]:
        return succeed(f"caught {err.id}")

    recovered = eff.map(reached_the_top).pipe(catch_tag(NotFound, recover))

    assert run_sync(recovered) == "caught bottom"
    assert mapped == []


def test_a_defect_travels_through_a_million_flat_maps_to_the_top() -> None:
    boom = RuntimeError("deep")
    eff: Effect[int] = die(boom)
    for _ in range(DEPTH):
        eff = eff.flat_map(_inc)

    assert run_sync_exit(eff) == Failure(Die(boom))


@pytest.mark.anyio
async def test_a_deep_chain_with_waits_runs_under_run_promise() -> None:
    eff = succeed(0)
    for i in range(10_000):
        eff = eff.flat_map(_inc) if i % 100 else eff.flat_map(lambda n: sleep(0).as_(n + 1))

    assert await run_promise(eff) == 10_000


@pytest.mark.anyio
async def test_cancelling_run_promise_closes_a_running_gen_so_its_finally_runs() -> None:
    events: list[str] = []

    @gen
    def handler() -> EffectGen[None]:
        try:
            events.append("started")
            yield from never
        finally:
            events.append("gen finally")

    with anyio.move_on_after(0.01) as scope:
        await run_promise(handler())

    assert scope.cancelled_caught
    assert events == ["started", "gen finally"]


# -- fast paths: a handler that returns at once, a run of left-nested flat_maps --------


@gen
def _at_once(a: int, *, b: int = 0) -> EffectGen[int]:
    x = yield from succeed(a)
    y = yield from sync(lambda: b)
    return x + y


@pytest.mark.anyio
async def test_a_handler_that_returns_at_once_gives_its_value_with_args_and_kwargs() -> None:
    assert run_sync(_at_once(1, b=2)) == 3
    assert run_sync_exit(_at_once(1)) == Success(1)
    assert await run_promise(_at_once(1, b=2)) == 3
    assert await run_promise_exit(_at_once(4)) == Success(4)


@pytest.mark.anyio
async def test_a_handler_failing_or_dying_at_its_first_step_fails_as_the_loop_would() -> None:
    err = NotFound("first")
    boom = LookupError("first")

    @gen
    def failing() -> EffectGen[int, NotFound]:
        return (yield from err)

    @gen
    def dying() -> EffectGen[int]:
        return _explode(boom)
        yield from succeed(0)

    assert run_sync_exit(failing()) == Failure(Fail(err))
    assert await run_promise_exit(failing()) == Failure(Fail(err))
    assert run_sync_exit(dying()) == Failure(Die(boom))
    assert await run_promise_exit(dying()) == Failure(Die(boom))
    with pytest.raises(LookupError) as info:
        await run_promise(dying())
    assert info.value is boom
    assert "_explode" in [frame.name for frame in traceback.extract_tb(boom.__traceback__)]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_handler_cancelled_at_its_first_step_propagates_the_cancellation() -> None:
    cancelled = anyio.get_cancelled_exc_class()

    @gen
    def cancelling() -> EffectGen[int]:
        raise cancelled()
        yield from succeed(0)

    with pytest.raises(cancelled):
        await run_promise(cancelling())
    with pytest.raises(cancelled):
        await run_promise_exit(cancelling())


def test_a_handler_raising_keyboard_interrupt_at_once_lets_it_through() -> None:
    @gen
    def stopping() -> EffectGen[int]:
        raise KeyboardInterrupt
        yield from succeed(0)

    with pytest.raises(KeyboardInterrupt):
        run_sync(stopping())


def _raising(err: Exception) -> Callable[[int], Effect[int]]:
    def continuation(_: int) -> Effect[int]:
        raise err

    return continuation


def _logged(events: list[str], name: str, step: Effect[int]) -> Callable[[int], Effect[int]]:
    def continuation(n: int) -> Effect[int]:
        events.append(f"{name}({n})")
        return step.map(lambda k: n + k)

    return continuation


@pytest.mark.anyio
async def test_a_run_of_flat_maps_calls_each_continuation_once_in_order_around_waits() -> None:
    events: list[str] = []

    @gen
    def one() -> EffectGen[int]:
        return (yield from succeed(1))

    steps: list[tuple[str, Effect[int]]] = [
        ("value", succeed(1)),
        ("sync", sync(lambda: 1)),
        ("sleep", sleep(0).as_(1)),
        ("gen", one()),
        ("chain", succeed(0).flat_map(_inc).flat_map(succeed)),
        ("value", succeed(1)),
    ]
    eff: Effect[int] = succeed(0)
    for name, step in steps:
        eff = eff.flat_map(_logged(events, name, step))

    assert await run_promise(eff) == 6
    expected = ["value(0)", "sync(1)", "sleep(2)", "gen(3)", "chain(4)", "value(5)"]
    assert events == expected
    events.clear()
    assert await run_promise(eff) == 6  # an effect runs again from the start
    assert events == expected


def test_a_run_of_flat_maps_stops_at_a_failure_or_defect_and_runs_finalizers() -> None:
    events: list[str] = []
    err = NotFound("middle")
    boom = RuntimeError("middle")

    def chain(middle: Callable[[int], Effect[int, NotFound]]) -> Effect[int, NotFound]:
        eff: Effect[int, NotFound] = succeed(0)
        for i in range(10):
            eff = eff.flat_map(middle if i == 5 else _logged(events, f"step{i}", succeed(1)))
        return eff.pipe(ensuring(sync(lambda: events.append("finalizer"))))

    assert run_sync_exit(chain(lambda _: fail(err))) == Failure(Fail(err))
    assert events == ["step0(0)", "step1(1)", "step2(2)", "step3(3)", "step4(4)", "finalizer"]
    events.clear()
    assert run_sync_exit(chain(_raising(boom))) == Failure(Die(boom))
    assert events == ["step0(0)", "step1(1)", "step2(2)", "step3(3)", "step4(4)", "finalizer"]
    events.clear()
    recovered = chain(lambda _: fail(err)).pipe(catch_tag(NotFound, lambda e: succeed(-1)))
    assert run_sync(recovered) == -1


@pytest.mark.anyio
async def test_interrupting_a_run_of_flat_maps_mid_way_runs_finalizers_and_stops() -> None:
    events: list[str] = []
    eff: Effect[int] = succeed(0)
    for i in range(10):
        eff = eff.flat_map(_logged(events, f"step{i}", never if i == 5 else succeed(1)))
    eff = eff.pipe(ensuring(sync(lambda: events.append("finalizer"))))

    with anyio.move_on_after(0.01) as scope:
        await run_promise(eff)

    assert scope.cancelled_caught
    assert events == ["step0(0)", "step1(1)", "step2(2)", "step3(3)", "step4(4)", "step5(5)", "finalizer"]


# -- `yield from suspend(...)` builds its effect inline ---------------------------------------


class Refused(TaggedError):
    why: str


def test_a_suspend_in_a_handler_runs_its_thunk_each_time_and_gives_its_outcome() -> None:
    built: list[int] = []

    def build() -> Effect[int, Refused]:
        built.append(len(built))
        return succeed(len(built)) if len(built) < 3 else fail(Refused(why="third"))

    @gen
    def handler() -> EffectGen[list[int], Refused]:
        eff = suspend(build)
        return [(yield from eff), (yield from eff), (yield from eff)]

    assert run_sync_exit(handler()) == Failure(Fail(Refused(why="third")))
    assert built == [0, 1, 2]
    assert run_sync(handler().pipe(catch_tag(Refused, lambda _e: succeed([-1])))) == [-1]


def test_a_suspend_whose_thunk_raises_in_a_handler_is_a_defect() -> None:
    boom = RuntimeError("boom")

    def build() -> Effect[int]:
        raise boom

    @gen
    def handler() -> EffectGen[int]:
        return (yield from suspend(build))

    ex = run_sync_exit(handler())
    assert isinstance(ex, Failure) and ex.cause.squash() is boom


def test_a_long_chain_of_suspends_in_a_handler_takes_no_python_stack() -> None:
    def countdown(n: int) -> Effect[int]:
        return suspend(lambda: succeed(0) if n == 0 else countdown(n - 1))

    @gen
    def handler() -> EffectGen[int]:
        return (yield from countdown(100_000))

    assert run_sync(handler()) == 0
