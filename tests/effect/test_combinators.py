"""Function forms of the combinators: data-first and pipeable, plus `all`,
`ensuring`, `timeout`, `never`, `interrupt`, `log` and `pipe`."""

from __future__ import annotations

import logging
from typing import Never

import anyio
import pytest
from returns.result import Failure as ResultFailure
from returns.result import Success as ResultSuccess

from durable_effect.effect import (
    Clock,
    Die,
    Effect,
    Fail,
    Failure,
    Interrupt,
    Layer,
    Sequential,
    Success,
    TaggedError,
    TestClock,
    TimeoutException,
    all,
    catch_all,
    catch_all_defect,
    catch_tag,
    catch_tags,
    die,
    either,
    ensuring,
    fail,
    flat_map,
    interrupt,
    log,
    log_debug,
    log_error,
    log_warning,
    map,
    map_error,
    never,
    or_die,
    pipe,
    promise,
    provide,
    run_promise,
    run_promise_exit,
    run_sync,
    run_sync_exit,
    service,
    sleep,
    succeed,
    sync,
    tap,
    tap_error,
    timeout,
    zip,
)
from durable_effect.effect.cause import FailureValue, InterruptedError_


class NotFound(TaggedError):
    id: str


class Forbidden(TaggedError):
    user: str


class Unavailable(TaggedError):
    pass


def not_found() -> Effect[int, NotFound | Forbidden | Unavailable]:
    return fail(NotFound("room-1"))


def forbidden() -> Effect[int, NotFound | Forbidden | Unavailable]:
    return fail(Forbidden("eve"))


def unavailable() -> Effect[int, NotFound | Forbidden | Unavailable]:
    return fail(Unavailable())


def defect(err: BaseException) -> Effect[int, NotFound | Forbidden | Unavailable]:
    return die(err)


# -- pipe ----------------------------------------------------------------------------


def add_one(n: int) -> int:
    return n + 1


def times_ten(n: int) -> Effect[int]:
    return succeed(n * 10)


def test_pipe_function_threads_a_value_through_functions() -> None:
    assert pipe(3) == 3
    assert pipe(3, add_one, str) == "4"
    assert run_sync(pipe(succeed(3), map(add_one), map(str))) == "4"


def test_pipe_method_and_pipe_function_agree() -> None:
    by_method = succeed(1).pipe(map(add_one), flat_map(times_ten))
    by_function = pipe(succeed(1), map(add_one), flat_map(times_ten))

    assert run_sync(by_method) == run_sync(by_function) == 20


# -- sequencing -----------------------------------------------------------------------


def test_map_in_both_forms() -> None:
    assert run_sync(map(succeed(2), lambda n: n + 1)) == 3
    assert run_sync(succeed(2).pipe(map(add_one))) == 3


def test_flat_map_in_both_forms() -> None:
    assert run_sync(flat_map(succeed(2), lambda n: succeed(n * 3))) == 6
    assert run_sync(succeed(2).pipe(flat_map(times_ten))) == 20


def test_tap_in_both_forms_keeps_the_value_and_runs_the_side_effect() -> None:
    seen: list[int] = []

    def record(n: int) -> Effect[None]:
        return sync(lambda: seen.append(n))

    assert run_sync(tap(succeed(1), record)) == 1
    assert run_sync(succeed(2).pipe(tap(record))) == 2
    assert seen == [1, 2]


def test_zip_in_both_forms() -> None:
    assert run_sync(zip(succeed(1), succeed("a"))) == (1, "a")
    assert run_sync(succeed(1).pipe(zip(succeed("a")))) == (1, "a")


def test_zip_stops_at_the_first_failure() -> None:
    ran: list[str] = []

    eff = zip(not_found(), sync(lambda: ran.append("right")))

    assert run_sync_exit(eff) == Failure(Fail(NotFound("room-1")))
    assert ran == []


# -- all, sequential ----------------------------------------------------------------------


def test_all_of_a_list_runs_in_order_and_gives_a_list() -> None:
    order: list[int] = []

    def step(i: int) -> Effect[int]:
        return sync(lambda: order.append(i)).as_(i * i)

    assert run_sync(all([step(i) for i in range(4)])) == [0, 1, 4, 9]
    assert order == [0, 1, 2, 3]


def test_all_of_any_iterable_gives_a_list() -> None:
    assert run_sync(all(succeed(i) for i in range(3))) == [0, 1, 2]
    assert run_sync(all([])) == []


def test_all_of_a_tuple_gives_a_tuple() -> None:
    pair = run_sync(all((succeed(1), succeed("two"))))
    triple = run_sync(all((succeed(1), succeed("two"), succeed(3.0))))

    assert pair == (1, "two")
    assert triple == (1, "two", 3.0)


def test_all_sequential_stops_at_the_first_failure() -> None:
    ran: list[int] = []

    def step(i: int) -> Effect[int, NotFound]:
        if i == 1:
            return fail(NotFound(str(i)))
        return sync(lambda: ran.append(i)).as_(i)

    assert run_sync_exit(all([step(i) for i in range(3)])) == Failure(Fail(NotFound("1")))
    assert ran == [0]


# -- all, concurrent ------------------------------------------------------------------------


class Gauge:
    """Counts jobs running at once; every job waits at a gate the test opens."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.gate = anyio.Event()

    def job(self, i: int) -> Effect[int]:
        def enter() -> None:
            self.running += 1
            self.peak = max(self.peak, self.running)

        def leave() -> int:
            self.running -= 1
            return i

        return sync(enter).flat_map(lambda _: promise(self.gate.wait)).flat_map(lambda _: sync(leave))


async def _run_jobs_behind_gate(gauge: Gauge, eff: Effect[list[int]]) -> tuple[int, list[int]]:
    """Start `eff`, let every task block, count who got in, open the gate."""
    results: list[int] = []

    async def runner() -> None:
        results.extend(await run_promise(eff))

    async with anyio.create_task_group() as tg:
        tg.start_soon(runner)
        await anyio.wait_all_tasks_blocked()
        running_at_gate = gauge.running
        gauge.gate.set()
    return running_at_gate, results


@pytest.mark.anyio
async def test_all_unbounded_runs_every_effect_at_once() -> None:
    gauge = Gauge()

    eff = all([gauge.job(i) for i in range(5)], concurrency="unbounded")
    running_at_gate, results = await _run_jobs_behind_gate(gauge, eff)

    assert running_at_gate == 5
    assert results == [0, 1, 2, 3, 4]
    assert gauge.running == 0


@pytest.mark.anyio
async def test_all_with_a_number_runs_at_most_that_many_at_once() -> None:
    gauge = Gauge()

    eff = all([gauge.job(i) for i in range(5)], concurrency=2)
    running_at_gate, results = await _run_jobs_behind_gate(gauge, eff)

    assert running_at_gate == 2
    assert gauge.peak == 2
    assert results == [0, 1, 2, 3, 4]


@pytest.mark.anyio
async def test_all_without_concurrency_runs_one_at_a_time() -> None:
    gauge = Gauge()

    running_at_gate, results = await _run_jobs_behind_gate(gauge, all([gauge.job(i) for i in range(3)]))

    assert running_at_gate == 1
    assert gauge.peak == 1
    assert results == [0, 1, 2]


@pytest.mark.anyio
async def test_all_concurrent_keeps_the_tuple_shape_and_order() -> None:
    async def slow() -> str:
        await anyio.wait_all_tasks_blocked()
        return "slow"

    result = await run_promise(all((promise(slow), succeed(2)), concurrency="unbounded"))

    assert result == ("slow", 2)


@pytest.mark.anyio
async def test_all_concurrent_first_failure_cancels_the_others_and_runs_their_finalizers() -> None:
    finalized: list[str] = []

    def worker(name: str) -> Effect[int]:
        return never.pipe(ensuring(sync(lambda: finalized.append(name))))

    failing = promise(anyio.wait_all_tasks_blocked).flat_map(lambda _: fail(NotFound("first")))

    ex = await run_promise_exit(all([worker("a"), failing, worker("b")], concurrency="unbounded"))

    assert ex == Failure(Fail(NotFound("first")))
    assert sorted(finalized) == ["a", "b"]


@pytest.mark.anyio
async def test_all_concurrent_a_defect_also_cancels_the_others() -> None:
    finalized: list[str] = []
    boom = RuntimeError("boom")

    def explode() -> None:
        raise boom

    worker = never.pipe(ensuring(sync(lambda: finalized.append("worker"))))
    exploding = promise(anyio.wait_all_tasks_blocked).flat_map(lambda _: sync(explode))

    ex = await run_promise_exit(all([worker, exploding], concurrency=2))

    assert ex == Failure(Die(boom))
    assert finalized == ["worker"]


@pytest.mark.anyio
async def test_all_concurrent_children_see_the_provided_services() -> None:
    clock = TestClock(start_ms=1234.0)

    def now() -> Effect[float, Never, Clock]:
        return service(Clock).map(lambda c: c.now_ms())

    eff = all([now(), now()], concurrency="unbounded").pipe(provide(Layer.succeed(Clock, clock)))

    assert await run_promise(eff) == [1234.0, 1234.0]


# -- catch_tag / catch_tags / catch_all / catch_all_defect -------------------------------


def test_catch_tag_recovers_from_its_class_in_both_forms() -> None:
    def recover(e: NotFound) -> Effect[int]:
        return succeed(len(e.id))

    assert run_sync(catch_tag(not_found(), NotFound, recover)) == 6
    assert run_sync_exit(not_found().pipe(catch_tag(NotFound, recover))) == Success(6)


def test_catch_tag_lets_other_typed_errors_and_defects_pass_through() -> None:
    boom = RuntimeError("boom")
    handled: list[object] = []

    def recover(e: NotFound) -> Effect[int]:
        handled.append(e)
        return succeed(0)

    assert run_sync_exit(forbidden().pipe(catch_tag(NotFound, recover))) == Failure(Fail(Forbidden("eve")))
    assert run_sync_exit(defect(boom).pipe(catch_tag(NotFound, recover))) == Failure(Die(boom))
    assert handled == []


def test_catch_tag_does_not_touch_a_success() -> None:
    ok: Effect[int, NotFound] = succeed(7)

    assert run_sync(ok.pipe(catch_tag(NotFound, lambda e: succeed(0)))) == 7


def test_a_handler_that_raises_is_a_defect_and_the_handled_error_is_gone() -> None:
    bug = KeyError("handler bug")

    def recover(e: NotFound) -> Effect[int]:
        raise bug

    ex = run_sync_exit(not_found().pipe(catch_tag(NotFound, recover)))

    assert ex == Failure(Die(bug))
    with pytest.raises(KeyError):
        run_sync(not_found().pipe(catch_tag(NotFound, recover)))


def test_a_handler_may_fail_with_another_typed_error() -> None:
    eff = not_found().pipe(catch_tag(NotFound, lambda e: fail(Forbidden(e.id))))

    assert run_sync_exit(eff) == Failure(Fail(Forbidden("room-1")))


def test_catch_tags_routes_each_class_to_its_handler() -> None:
    handlers = catch_tags(
        (NotFound, lambda e: succeed(f"missing {e.id}")),
        (Forbidden, lambda e: succeed(f"denied {e.user}")),
    )

    assert run_sync(not_found().pipe(handlers)) == "missing room-1"
    assert run_sync(forbidden().pipe(handlers)) == "denied eve"
    assert run_sync_exit(unavailable().pipe(handlers)) == Failure(Fail(Unavailable()))
    boom = RuntimeError("boom")
    assert run_sync_exit(defect(boom).pipe(handlers)) == Failure(Die(boom))


def test_catch_all_recovers_from_any_typed_error_but_not_defects() -> None:
    boom = RuntimeError("boom")

    def recover(e: NotFound | Forbidden | Unavailable) -> Effect[str]:
        return succeed(type(e).__name__)

    assert run_sync(catch_all(forbidden(), recover)) == "Forbidden"
    assert run_sync(unavailable().pipe(catch_all(recover))) == "Unavailable"
    assert run_sync_exit(defect(boom).pipe(catch_all(recover))) == Failure(Die(boom))


def test_catch_all_does_not_recover_from_interruption() -> None:
    stopped: Effect[int, NotFound] = interrupt()

    def recover(e: NotFound) -> Effect[int]:
        return succeed(0)

    ex = run_sync_exit(stopped.pipe(catch_all(recover)))

    assert ex == Failure(Interrupt())


def test_catch_all_defect_recovers_from_defects_only() -> None:
    boom = RuntimeError("boom")
    seen: list[BaseException] = []

    def recover(d: BaseException) -> Effect[int]:
        seen.append(d)
        return succeed(-1)

    assert run_sync(catch_all_defect(defect(boom), recover)) == -1
    assert run_sync(defect(boom).pipe(catch_all_defect(recover))) == -1
    assert seen == [boom, boom]
    assert run_sync_exit(not_found().pipe(catch_all_defect(recover))) == Failure(Fail(NotFound("room-1")))


def test_catch_all_defect_catches_an_exception_raised_in_sync() -> None:
    def explode() -> int:
        raise ZeroDivisionError("oops")

    eff = sync(explode).pipe(catch_all_defect(lambda d: succeed(str(d))))

    assert run_sync(eff) == "oops"


# -- map_error / tap_error / or_die / either ------------------------------------------------


def test_map_error_in_both_forms() -> None:
    def describe(e: NotFound | Forbidden | Unavailable) -> str:
        return f"error: {e._tag}"

    assert run_sync_exit(map_error(not_found(), describe)) == Failure(Fail("error: NotFound"))
    assert run_sync_exit(forbidden().pipe(map_error(describe))) == Failure(Fail("error: Forbidden"))
    assert run_sync(succeed(1).pipe(map_error(describe))) == 1


def test_map_error_leaves_defects_alone() -> None:
    boom = RuntimeError("boom")

    assert run_sync_exit(defect(boom).pipe(map_error(lambda e: "mapped"))) == Failure(Die(boom))


def test_tap_error_in_both_forms_observes_and_keeps_the_failure() -> None:
    seen: list[object] = []

    def record(e: object) -> Effect[None]:
        return sync(lambda: seen.append(e))

    assert run_sync_exit(tap_error(not_found(), record)) == Failure(Fail(NotFound("room-1")))
    assert run_sync_exit(forbidden().pipe(tap_error(record))) == Failure(Fail(Forbidden("eve")))
    assert run_sync(succeed(5).pipe(tap_error(record))) == 5
    assert seen == [NotFound("room-1"), Forbidden("eve")]


def test_tap_error_is_not_called_for_defects() -> None:
    seen: list[object] = []

    def record(e: object) -> Effect[None]:
        return sync(lambda: seen.append(e))

    run_sync_exit(defect(RuntimeError("x")).pipe(tap_error(record)))

    assert seen == []


def test_or_die_turns_a_typed_failure_into_a_defect() -> None:
    ex = run_sync_exit(not_found().pipe(or_die))

    assert ex == Failure(Die(NotFound("room-1")))
    assert run_sync_exit(or_die(forbidden())) == Failure(Die(Forbidden("eve")))
    recovered = not_found().pipe(or_die, catch_all(lambda e: succeed(0)))
    assert run_sync_exit(recovered) == Failure(Die(NotFound("room-1")))


def test_or_die_wraps_an_error_that_is_not_an_exception() -> None:
    failing: Effect[int, str] = fail("plain text")

    ex = run_sync_exit(failing.pipe(or_die))

    assert isinstance(ex, Failure)
    [wrapped] = ex.cause.defects()
    assert isinstance(wrapped, FailureValue)
    assert wrapped.error == "plain text"


def test_either_gives_a_returns_result_in_both_forms() -> None:
    assert run_sync(either(succeed(1))) == ResultSuccess(1)
    assert run_sync(not_found().pipe(either)) == ResultFailure(NotFound("room-1"))


def test_either_does_not_swallow_defects() -> None:
    boom = RuntimeError("boom")

    assert run_sync_exit(defect(boom).pipe(either)) == Failure(Die(boom))


# -- ensuring ---------------------------------------------------------------------------------


def test_ensuring_runs_after_success_in_both_forms() -> None:
    events: list[str] = []
    fin = sync(lambda: events.append("finalizer"))
    body = sync(lambda: events.append("body")).as_(1)

    assert run_sync(ensuring(body, fin)) == 1
    assert run_sync(body.pipe(ensuring(fin))) == 1
    assert events == ["body", "finalizer", "body", "finalizer"]


def test_ensuring_runs_after_a_typed_failure_and_keeps_it() -> None:
    events: list[str] = []

    ex = run_sync_exit(not_found().pipe(ensuring(sync(lambda: events.append("finalizer")))))

    assert ex == Failure(Fail(NotFound("room-1")))
    assert events == ["finalizer"]


def test_ensuring_runs_after_a_defect_and_keeps_it() -> None:
    events: list[str] = []
    boom = RuntimeError("boom")

    def explode() -> int:
        raise boom

    ex = run_sync_exit(sync(explode).pipe(ensuring(sync(lambda: events.append("finalizer")))))

    assert ex == Failure(Die(boom))
    assert events == ["finalizer"]


def test_ensuring_runs_after_interrupt() -> None:
    events: list[str] = []
    stopped: Effect[int] = interrupt()

    ex = run_sync_exit(stopped.pipe(ensuring(sync(lambda: events.append("finalizer")))))

    assert ex == Failure(Interrupt())
    assert events == ["finalizer"]


def test_nested_finalizers_run_innermost_first() -> None:
    events: list[str] = []

    def note(text: str) -> Effect[None]:
        return sync(lambda: events.append(text))

    run_sync_exit(not_found().pipe(ensuring(note("inner")), ensuring(note("outer"))))

    assert events == ["inner", "outer"]


def test_a_failing_finalizer_after_a_failure_gives_a_sequential_cause() -> None:
    cleanup_bug = OSError("cleanup failed")

    ex = run_sync_exit(not_found().pipe(ensuring(die(cleanup_bug))))

    assert ex == Failure(Sequential(Fail(NotFound("room-1")), Die(cleanup_bug)))
    with pytest.raises(NotFound):
        run_sync(not_found().pipe(ensuring(die(cleanup_bug))))


def test_a_failing_finalizer_after_a_success_fails_the_effect() -> None:
    cleanup_bug = OSError("cleanup failed")

    assert run_sync_exit(succeed(1).pipe(ensuring(die(cleanup_bug)))) == Failure(Die(cleanup_bug))


@pytest.mark.anyio
async def test_ensuring_runs_when_a_timeout_interrupts_the_effect() -> None:
    events: list[str] = []
    clock = TestClock()
    guarded = never.pipe(ensuring(sync(lambda: events.append("finalizer"))), timeout("1 second"), either)
    advance = promise(anyio.wait_all_tasks_blocked).flat_map(lambda _: clock.adjust("1 second"))

    eff = all((guarded, advance), concurrency="unbounded").pipe(provide(Layer.succeed(Clock, clock)))
    outcome, _ = await run_promise(eff)

    assert outcome == ResultFailure(TimeoutException(1000.0))
    assert events == ["finalizer"]


@pytest.mark.anyio
async def test_ensuring_finalizer_may_itself_wait_when_interrupted() -> None:
    events: list[str] = []

    async def slow_cleanup() -> None:
        await anyio.sleep(0)
        events.append("async finalizer done")

    eff = never.pipe(ensuring(promise(slow_cleanup)), timeout("1 millis"))

    assert await run_promise_exit(eff) == Failure(Fail(TimeoutException(1.0)))
    assert events == ["async finalizer done"]


# -- timeout ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_timeout_lets_a_fast_effect_succeed_in_both_forms() -> None:
    assert await run_promise(timeout(succeed(1), "1 second")) == 1
    assert await run_promise(sleep("1 millis").as_("done").pipe(timeout("5 seconds"))) == "done"


@pytest.mark.anyio
async def test_timeout_keeps_the_effects_own_failure() -> None:
    ex = await run_promise_exit(not_found().pipe(timeout("1 second")))

    assert ex == Failure(Fail(NotFound("room-1")))


@pytest.mark.anyio
async def test_timeout_follows_the_clock_in_scope() -> None:
    """With a TestClock the deadline passes only when the test moves time."""
    clock = TestClock()
    outcome: list[object] = []
    work = sleep("500 millis").as_("fast").pipe(timeout("1 second"), either)
    stuck = sleep("5 seconds").as_("slow").pipe(timeout("1 second"), either)
    clock_layer = Layer.succeed(Clock, clock)

    async def runner(eff: Effect[object]) -> None:
        outcome.append(await run_promise(eff.pipe(provide(clock_layer))))

    async with anyio.create_task_group() as tg:
        tg.start_soon(runner, work)
        await anyio.wait_all_tasks_blocked()
        await run_promise(clock.adjust("499 millis"))
        assert outcome == []
        await run_promise(clock.adjust("1 millis"))
        assert outcome == [ResultSuccess("fast")]

        tg.start_soon(runner, stuck)
        await anyio.wait_all_tasks_blocked()
        await run_promise(clock.adjust("999 millis"))
        assert outcome == [ResultSuccess("fast")]
        await run_promise(clock.adjust("1 millis"))
        assert outcome == [ResultSuccess("fast"), ResultFailure(TimeoutException(1000.0))]


@pytest.mark.anyio
async def test_never_with_a_live_timeout_fails_with_timeout_exception() -> None:
    with pytest.raises(TimeoutException) as info:
        await run_promise(never.pipe(timeout("10 millis")))
    assert info.value.duration_ms == 10.0


def test_timeout_rejects_a_bad_duration_when_built() -> None:
    with pytest.raises(ValueError):
        timeout("soonish")
    with pytest.raises(ValueError):
        timeout(succeed(1), -5)


# -- interrupt ----------------------------------------------------------------------------------


def test_interrupt_stops_the_effect_as_if_cancelled() -> None:
    after: list[str] = []
    stopped: Effect[None] = interrupt()

    ex = run_sync_exit(stopped.flat_map(lambda _: sync(lambda: after.append("after"))))

    assert ex == Failure(Interrupt())
    assert after == []
    with pytest.raises(InterruptedError_):
        run_sync(stopped)


# -- log ----------------------------------------------------------------------------------------


def test_log_writes_to_the_durable_effect_logger_when_run(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="durable_effect")
    eff = log("user", "alice", 3)

    assert caplog.records == []
    run_sync(eff)
    run_sync(log_debug("debug line"))
    run_sync(log_warning("warning line"))
    run_sync(log_error("error line"))
    run_sync(log("custom level", level=logging.CRITICAL))

    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("durable_effect", logging.INFO, "user alice 3"),
        ("durable_effect", logging.DEBUG, "debug line"),
        ("durable_effect", logging.WARNING, "warning line"),
        ("durable_effect", logging.ERROR, "error line"),
        ("durable_effect", logging.CRITICAL, "custom level"),
    ]
