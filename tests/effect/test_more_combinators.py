"""`or_else`, `option`, `for_each`, `when`/`unless`, `match`/`match_effect`,
`race`/`race_all`, `delay`, `timeout_fail`/`timeout_to`, `tap_both`,
`filter_or_fail`, `zip_with`, `flatten`, `as_void`, `annotate_logs` and
`with_log_span`."""

from __future__ import annotations

import logging

import anyio
import pytest
from returns.maybe import Nothing, Some

from durable_effect.effect import (
    Clock,
    Die,
    Effect,
    EffectGen,
    Fail,
    Failure,
    Interrupt,
    Layer,
    Sequential,
    Success,
    TaggedError,
    TestClock,
    annotate_logs,
    as_void,
    delay,
    die,
    fail,
    filter_or_fail,
    flatten,
    fn,
    for_each,
    interrupt,
    log,
    match,
    match_effect,
    never,
    option,
    or_else,
    promise,
    provide,
    race,
    race_all,
    run_promise,
    run_promise_exit,
    run_sync,
    run_sync_exit,
    sleep,
    succeed,
    sync,
    tap_both,
    timeout_fail,
    timeout_to,
    unless,
    when,
    with_log_span,
    zip_with,
)

from .clock_helpers import on_test_clock


class NotFound(TaggedError):
    id: str


class TooSlow(TaggedError):
    pass


BOOM = RuntimeError("boom")


def missing() -> Effect[int, NotFound]:
    return fail(NotFound("x"))


def dying() -> Effect[int, NotFound]:
    return die(BOOM)


def stopped() -> Effect[int, NotFound]:
    return interrupt()


# -- or_else, option ----------------------------------------------------------------------------


def test_or_else_runs_the_fallback_only_on_a_typed_failure() -> None:
    fallback_runs: list[int] = []

    def fallback() -> Effect[int]:
        fallback_runs.append(1)
        return succeed(0)

    assert run_sync(or_else(succeed(5), fallback)) == 5
    assert run_sync(missing().pipe(or_else(fallback))) == 0
    assert run_sync_exit(or_else(dying(), fallback)) == Failure(Die(BOOM))
    assert run_sync_exit(or_else(stopped(), fallback)) == Failure(Interrupt())
    assert fallback_runs == [1]
    assert run_sync_exit(or_else(missing(), lambda: fail(TooSlow()))) == Failure(Fail(TooSlow()))


def test_option_turns_a_typed_failure_into_nothing() -> None:
    assert run_sync(option(succeed(1))) == Some(1)
    assert run_sync(missing().pipe(option)) == Nothing
    assert run_sync_exit(option(dying())) == Failure(Die(BOOM))
    assert run_sync_exit(option(stopped())) == Failure(Interrupt())


# -- for_each ---------------------------------------------------------------------------------


def test_for_each_runs_in_order_and_stops_at_the_first_failure() -> None:
    seen: list[int] = []

    def visit(n: int) -> Effect[int, NotFound]:
        seen.append(n)
        return fail(NotFound(str(n))) if n == 3 else succeed(n * 10)

    eff = for_each(range(3), visit)
    assert seen == []  # f runs when the effect runs
    assert run_sync(eff) == [0, 10, 20]
    seen.clear()
    assert run_sync_exit(for_each([1, 2, 3, 4], visit)) == Failure(Fail(NotFound("3")))
    assert seen == [1, 2, 3]
    assert run_sync_exit(for_each([1], lambda _: dying())) == Failure(Die(BOOM))


@pytest.mark.anyio
async def test_for_each_with_concurrency_runs_at_most_that_many_at_once() -> None:
    running = [0]
    peak = [0]

    async def work(n: int) -> int:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await anyio.sleep(0.001)
        running[0] -= 1
        return n

    assert await run_promise(for_each(range(6), lambda n: promise(lambda: work(n)), concurrency=2)) == list(range(6))
    assert peak[0] == 2
    ex = await run_promise_exit(for_each([1, 2], lambda n: missing() if n == 2 else never, concurrency="unbounded"))
    assert ex == Failure(Fail(NotFound("x")))


# -- when, unless ------------------------------------------------------------------------------


def test_when_and_unless_run_the_effect_only_if_the_condition_says_so() -> None:
    runs: list[str] = []
    eff = sync(lambda: runs.append("ran")).as_(7)
    flag = [False]

    assert run_sync(when(eff, True)) == Some(7)
    assert run_sync(eff.pipe(when(False))) == Nothing
    assert run_sync(unless(eff, True)) == Nothing
    assert run_sync(eff.pipe(unless(False))) == Some(7)
    lazy = when(eff, lambda: flag[0])
    assert run_sync(lazy) == Nothing
    flag[0] = True
    assert run_sync(lazy) == Some(7)  # the condition is read when the effect runs
    assert runs == ["ran", "ran", "ran"]
    assert run_sync_exit(when(missing(), True)) == Failure(Fail(NotFound("x")))
    assert run_sync_exit(when(dying(), True)) == Failure(Die(BOOM))


# -- match, match_effect, tap_both -----------------------------------------------------------------


def test_match_folds_both_outcomes_and_lets_defects_through() -> None:
    def show(eff: Effect[int, NotFound]) -> Effect[str]:
        return match(eff, on_failure=lambda e: f"missing {e.id}", on_success=lambda n: f"got {n}")

    assert run_sync(show(succeed(1))) == "got 1"
    assert run_sync(show(missing())) == "missing x"
    assert run_sync_exit(show(dying())) == Failure(Die(BOOM))
    assert run_sync_exit(show(stopped())) == Failure(Interrupt())
    piped: Effect[str] = missing().pipe(match(on_failure=lambda e: "no", on_success=lambda n: "yes"))
    assert run_sync(piped) == "no"


def test_match_effect_continues_with_an_effect_for_each_outcome() -> None:
    def handle(eff: Effect[int, NotFound]) -> Effect[int, TooSlow]:
        return match_effect(eff, on_failure=lambda e: fail(TooSlow()), on_success=lambda n: succeed(n + 1))

    assert run_sync(handle(succeed(1))) == 2
    assert run_sync_exit(handle(missing())) == Failure(Fail(TooSlow()))
    assert run_sync_exit(handle(dying())) == Failure(Die(BOOM))
    piped = succeed(1).pipe(match_effect(on_failure=lambda e: succeed(0), on_success=lambda n: succeed(n * 5)))
    assert run_sync(piped) == 5


def test_tap_both_sees_each_outcome_and_keeps_it() -> None:
    seen: list[str] = []

    def tapped(eff: Effect[int, NotFound]) -> Effect[int, NotFound]:
        return tap_both(
            eff,
            on_failure=lambda e: sync(lambda: seen.append(f"failed {e.id}")),
            on_success=lambda n: sync(lambda: seen.append(f"ok {n}")),
        )

    assert run_sync(tapped(succeed(1))) == 1
    assert run_sync_exit(tapped(missing())) == Failure(Fail(NotFound("x")))
    assert run_sync_exit(tapped(dying())) == Failure(Die(BOOM))
    assert seen == ["ok 1", "failed x"]
    tap_fails = succeed(1).pipe(tap_both(on_failure=lambda e: succeed(None), on_success=lambda n: fail(TooSlow())))
    assert run_sync_exit(tap_fails) == Failure(Fail(TooSlow()))


# -- filter_or_fail, zip_with, flatten, as_void -----------------------------------------------------


def test_filter_or_fail_keeps_a_passing_value_and_fails_otherwise() -> None:
    def positive(eff: Effect[int, NotFound]) -> Effect[int, NotFound | TooSlow]:
        return filter_or_fail(eff, lambda n: n > 0, lambda n: TooSlow())

    assert run_sync(positive(succeed(3))) == 3
    assert run_sync_exit(positive(succeed(-1))) == Failure(Fail(TooSlow()))
    assert run_sync_exit(positive(missing())) == Failure(Fail(NotFound("x")))
    def is_positive(n: int) -> bool:
        return n > 0

    def not_found(n: int) -> NotFound:
        return NotFound(str(n))

    assert run_sync_exit(succeed(0).pipe(filter_or_fail(is_positive, not_found))) == Failure(Fail(NotFound("0")))


def test_zip_with_combines_two_values_in_order() -> None:
    order: list[str] = []
    a = sync(lambda: order.append("a")).as_(2)
    b = sync(lambda: order.append("b")).as_(3)
    assert run_sync(zip_with(a, b, lambda x, y: x * y)) == 6
    assert run_sync(a.pipe(zip_with(b, lambda x, y: x - y))) == -1
    assert order == ["a", "b", "a", "b"]
    assert run_sync_exit(zip_with(missing(), b, lambda x, y: x + y)) == Failure(Fail(NotFound("x")))
    assert order == ["a", "b", "a", "b"]


def test_flatten_and_as_void() -> None:
    nested: Effect[Effect[int, NotFound]] = succeed(missing())
    assert run_sync(flatten(succeed(succeed(4)))) == 4
    assert run_sync_exit(nested.pipe(flatten)) == Failure(Fail(NotFound("x")))
    assert run_sync(as_void(succeed(4))) is None
    assert run_sync_exit(missing().pipe(as_void)) == Failure(Fail(NotFound("x")))


# -- race, race_all -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_race_the_first_success_wins_and_the_loser_is_interrupted() -> None:
    finalized: list[str] = []
    slow = sleep("1 second").as_("slow").ensuring(sync(lambda: finalized.append("slow")))
    fast = sleep("10 millis").as_("fast")

    ex = await on_test_clock(race(slow, fast), "1 hour")

    assert ex == Success("fast")
    assert finalized == ["slow"]  # the loser's finalizer ran when it was interrupted
    assert await on_test_clock(fast.pipe(race(slow)), "1 hour") == Success("fast")


@pytest.mark.anyio
async def test_race_a_failure_does_not_win() -> None:
    late = sleep("1 second").as_(1)
    ex = await on_test_clock(race(missing(), late), "1 hour")
    assert ex == Success(1)


@pytest.mark.anyio
async def test_race_all_fails_with_every_cause_when_all_fail() -> None:
    ex = await run_promise_exit(race_all([missing(), dying()]))
    assert ex == Failure(Sequential(Fail(NotFound("x")), Die(BOOM)))
    with pytest.raises(ValueError):
        race_all([])


@pytest.mark.anyio
async def test_interrupting_a_race_interrupts_every_runner() -> None:
    finalized: list[str] = []
    def runner(i: int) -> Effect[None]:
        return never.ensuring(sync(lambda: finalized.append(str(i))))

    eff = race_all([runner(i) for i in range(3)])
    with anyio.move_on_after(0.01):
        await run_promise(eff)
    assert sorted(finalized) == ["0", "1", "2"]


# -- delay, timeout_fail, timeout_to -------------------------------------------------------------


@pytest.mark.anyio
async def test_delay_waits_on_the_clock_before_running() -> None:
    at: list[float] = []
    from durable_effect.effect import current_time_millis

    eff = delay(current_time_millis().map(at.append), "2 seconds")
    assert await on_test_clock(eff, "1 hour") == Success(None)
    assert await on_test_clock(missing().pipe(delay("1 second")), "1 hour") == Failure(Fail(NotFound("x")))
    assert at == [2000.0]


@pytest.mark.anyio
async def test_timeout_fail_fails_with_the_given_error() -> None:
    slow = sleep("5 seconds").as_(1)
    assert await on_test_clock(timeout_fail(slow, "1 second", on_timeout=TooSlow), "1 hour") == Failure(
        Fail(TooSlow())
    )
    assert await on_test_clock(succeed(1).pipe(timeout_fail("1 second", on_timeout=TooSlow)), "1 hour") == Success(1)
    assert await run_promise_exit(timeout_fail(missing(), "1 second", on_timeout=TooSlow)) == Failure(
        Fail(NotFound("x"))
    )
    assert await run_promise_exit(timeout_fail(dying(), "1 second", on_timeout=TooSlow)) == Failure(Die(BOOM))


@pytest.mark.anyio
async def test_timeout_to_maps_both_outcomes() -> None:
    def bounded(eff: Effect[int, NotFound]) -> Effect[str, NotFound]:
        return timeout_to(eff, "1 second", on_timeout=lambda: "late", on_success=lambda n: f"got {n}")

    assert await on_test_clock(bounded(sleep("5 seconds").as_(1)), "1 hour") == Success("late")
    assert await on_test_clock(bounded(sleep("1 millis").as_(1)), "1 hour") == Success("got 1")
    assert await run_promise_exit(bounded(missing())) == Failure(Fail(NotFound("x")))
    def double(n: int) -> int:
        return n * 2

    piped = succeed(2).pipe(timeout_to("1 second", on_timeout=lambda: 0, on_success=double))
    assert await run_promise(piped) == 4


# -- annotate_logs, with_log_span -----------------------------------------------------------------


def test_annotations_and_spans_follow_each_logged_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="durable_effect")
    clock = TestClock(start_ms=1_000.0)

    def later() -> None:
        clock.set_time(1_250.0)

    inner = log("start").flat_map(lambda _: sync(later)).flat_map(lambda _: log("done"))
    eff = inner.pipe(with_log_span("handler"), annotate_logs("room", "lobby"))
    run_sync(annotate_logs(eff, "user", "alice").pipe(provide(Layer.succeed(Clock, clock))))
    run_sync(log("plain"))

    assert [r.getMessage() for r in caplog.records] == [
        "start handler=0ms user=alice room=lobby",
        "done handler=250ms user=alice room=lobby",
        "plain",
    ]
    assert caplog.records[1].__dict__["annotations"] == {"user": "alice", "room": "lobby"}
    assert caplog.records[1].__dict__["spans"] == {"handler": 250.0}


def test_an_inner_annotation_replaces_an_outer_one_with_the_same_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="durable_effect")
    run_sync(log("x").pipe(annotate_logs("k", 2), annotate_logs("k", 1)))
    assert [r.getMessage() for r in caplog.records] == ["x k=2"]


def test_fn_is_gen_with_a_named_span(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="durable_effect")

    @fn("checkout")
    def checkout(cart: str) -> EffectGen[int, NotFound]:
        yield from log("paying", cart)
        if cart == "empty":
            return (yield from NotFound(cart))
        return 3

    still = Layer.succeed(Clock, TestClock())  # spans read the Clock in scope
    assert checkout.__name__ == "checkout"
    assert run_sync(provide(checkout("c-1"), still)) == 3
    assert run_sync_exit(provide(checkout("empty"), still)) == Failure(Fail(NotFound("empty")))
    assert [r.getMessage() for r in caplog.records] == ["paying c-1 checkout=0ms", "paying empty checkout=0ms"]


def _interrupt_cases(
    body: Effect[int, NotFound], ran: list[str]
) -> dict[str, Effect[object, object]]:
    def mark(name: str) -> Effect[int]:
        return sync(lambda: ran.append(name)).as_(0)

    return {
        "or_else": or_else(body, lambda: mark("fallback")),
        "option": option(body),
        "for_each": for_each([1, 2], lambda _: body, concurrency=2),
        "when": when(body, True),
        "match": match(body, on_failure=lambda e: ran.append("on_failure"), on_success=lambda n: n),
        "match_effect": match_effect(body, on_failure=lambda e: mark("on_failure"), on_success=succeed),
        "tap_both": tap_both(body, on_failure=lambda e: mark("on_failure"), on_success=lambda n: mark("on_success")),
        "timeout_fail": timeout_fail(body, "1 hour", on_timeout=TooSlow),
        "timeout_to": timeout_to(body, "1 hour", on_timeout=lambda: 0, on_success=lambda n: n),
        "filter_or_fail": filter_or_fail(body, lambda n: True, lambda n: TooSlow()),
        "zip_with": zip_with(body, succeed(1), lambda a, b: a + b),
        "flatten": flatten(succeed(body)),
        "as_void": as_void(body),
        "delay": delay(body, 0),
        "race": race(body, never),
    }


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(_interrupt_cases(never, [])))
async def test_interrupting_a_combinator_interrupts_the_effect_and_runs_no_handler(name: str) -> None:
    ran: list[str] = []
    body: Effect[int, NotFound] = never.ensuring(sync(lambda: ran.append("finalizer")))
    eff = _interrupt_cases(body, ran)[name]
    scope = anyio.CancelScope()

    async def runner() -> None:
        with scope:
            await run_promise_exit(eff)
            ran.append("returned")

    async with anyio.create_task_group() as tg:
        tg.start_soon(runner)
        await anyio.wait_all_tasks_blocked()
        scope.cancel()
    assert ran == ["finalizer"] * (2 if name == "for_each" else 1)  # no handler ran, nothing returned
