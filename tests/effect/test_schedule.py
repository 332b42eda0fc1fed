"""Schedules, `retry`, `retry_or_else` and `repeat`, driven by a `TestClock`."""

from __future__ import annotations

import sys

import anyio
import pytest

from durable_effect.effect import (
    Clock,
    Die,
    Duration,
    Effect,
    Exit,
    Fail,
    Failure,
    Interrupt,
    Layer,
    Random,
    Schedule,
    Success,
    TaggedError,
    TestClock,
    current_time_millis,
    die,
    fail,
    interrupt,
    provide,
    repeat,
    retry,
    retry_or_else,
    run_promise,
    run_promise_exit,
    run_sync,
    run_sync_exit,
    succeed,
    suspend,
    sync,
)

from .clock_helpers import on_test_clock


class Unavailable(TaggedError):
    attempt: int


class BadRequest(TaggedError):
    pass


class Flaky:
    """Fails `failures` times with `Unavailable`, then succeeds; records when
    each attempt started on the clock in scope."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.times: list[float] = []

    def __call__(self) -> Effect[str, Unavailable | BadRequest]:
        def attempt(now: float) -> Effect[str, Unavailable | BadRequest]:
            self.times.append(now)
            n = len(self.times)
            return fail(Unavailable(n)) if n <= self.failures else succeed(f"ok after {n}")

        return current_time_millis().flat_map(attempt)


# -- schedules on their own ---------------------------------------------------------------


def test_schedule_delays() -> None:
    assert Schedule.recurs(3).delays() == [0.0, 0.0, 0.0]
    assert Schedule.spaced("1 second").delays(inputs=3) == [1000.0, 1000.0, 1000.0]
    assert Schedule.exponential("100 millis").delays(inputs=5) == [100.0, 200.0, 400.0, 800.0, 1600.0]
    assert Schedule.exponential(10, factor=3).delays(inputs=3) == [10.0, 30.0, 90.0]
    assert Schedule.fibonacci("10 millis").delays(inputs=6) == [10.0, 10.0, 20.0, 30.0, 50.0, 80.0]


def test_intersect_takes_the_longer_delay_and_stops_with_the_first_to_stop() -> None:
    both = Schedule.exponential("100 millis").intersect(Schedule.spaced("250 millis")).intersect(Schedule.recurs(4))
    assert both.delays() == [250.0, 250.0, 400.0, 800.0]


def test_union_takes_the_shorter_delay_and_goes_on_while_either_does() -> None:
    either_one = Schedule.recurs(2).union(Schedule.spaced("1 second").intersect(Schedule.recurs(4)))
    assert either_one.delays() == [0.0, 0.0, 1000.0, 1000.0]


def test_and_then_runs_one_schedule_after_the_other() -> None:
    assert Schedule.recurs(2).and_then(Schedule.spaced(50).intersect(Schedule.recurs(2))).delays() == [
        0.0,
        0.0,
        50.0,
        50.0,
    ]


def test_up_to_stops_once_the_time_since_the_first_step_passes_the_limit() -> None:
    # steps at 0, 100, 200, 300: the one at 300 is past 250 ms and stops.
    assert Schedule.spaced("100 millis").up_to("250 millis").delays() == [100.0, 100.0, 100.0]


def test_while_output_and_until_output_read_the_outputs() -> None:
    assert Schedule.exponential(10).while_output(lambda d: d.millis < 100).delays() == [10.0, 20.0, 40.0, 80.0]
    assert Schedule.recurs(10).until_output(lambda n: n == 2).delays() == [0.0, 0.0]
    assert Schedule.spaced(5).map(lambda n: n * 2).while_output(lambda n: n < 4).delays() == [5.0, 5.0]


def test_jittered_scales_each_delay_by_a_factor_in_range() -> None:
    assert Schedule.spaced(100).jittered().delays(inputs=2, random=lambda: 0.0) == [80.0, 80.0]
    assert Schedule.spaced(100).jittered(0.5, 1.5).delays(inputs=1, random=lambda: 1.0) == [150.0]


def test_bad_schedule_arguments_are_rejected_when_built() -> None:
    with pytest.raises(ValueError):
        Schedule.recurs(-1)
    with pytest.raises(ValueError):
        Schedule.exponential(10, factor=0.5)
    with pytest.raises(ValueError):
        Schedule.spaced(1).jittered(2.0, 1.0)
    with pytest.raises(ValueError):
        Schedule.spaced("soonish")


# -- retry ---------------------------------------------------------------------------------


def test_retry_succeeds_without_retrying_when_the_first_attempt_succeeds() -> None:
    flaky = Flaky(0)
    assert run_sync(suspend(flaky).retry(Schedule.recurs(3))) == "ok after 1"
    assert len(flaky.times) == 1


def test_retry_runs_again_until_success_in_every_form() -> None:
    for form in (
        lambda eff: eff.retry(Schedule.recurs(3)),
        lambda eff: retry(eff, Schedule.recurs(3)),
        lambda eff: eff.pipe(retry(Schedule.recurs(3))),
        lambda eff: eff.pipe(retry(times=3)),
        lambda eff: eff.retry(times=3),
    ):
        flaky = Flaky(3)
        assert run_sync(form(suspend(flaky))) == "ok after 4"


def test_retry_gives_up_with_the_last_typed_failure() -> None:
    flaky = Flaky(10)
    ex = run_sync_exit(suspend(flaky).retry(times=2))
    assert ex == Failure(Fail(Unavailable(3)))
    assert len(flaky.times) == 3


def test_retry_while_and_until_read_the_error() -> None:
    calls: list[str] = []

    def call() -> Effect[str, Unavailable | BadRequest]:
        calls.append("call")
        return fail(BadRequest()) if len(calls) == 2 else fail(Unavailable(len(calls)))

    only_unavailable = suspend(call).retry(times=5, while_=lambda e: isinstance(e, Unavailable))
    assert run_sync_exit(only_unavailable) == Failure(Fail(BadRequest()))
    assert len(calls) == 2

    calls.clear()
    until_bad = suspend(call).pipe(retry(until=lambda e: isinstance(e, BadRequest)))
    assert run_sync_exit(until_bad) == Failure(Fail(BadRequest()))
    assert len(calls) == 2


def test_retry_never_retries_a_defect_or_an_interruption() -> None:
    runs: list[str] = []
    boom = RuntimeError("boom")
    dying: Effect[int] = sync(lambda: runs.append("die")).flat_map(lambda _: die(boom))
    stopped: Effect[int] = sync(lambda: runs.append("interrupt")).flat_map(lambda _: interrupt())

    assert run_sync_exit(dying.retry(times=3)) == Failure(Die(boom))
    assert run_sync_exit(stopped.retry(times=3)) == Failure(Interrupt())
    assert runs == ["die", "interrupt"]


def test_retry_or_else_recovers_with_the_last_error_and_output() -> None:
    flaky = Flaky(10)

    def fallback(error: Unavailable | BadRequest, tries: int) -> Effect[str]:
        return succeed(f"gave up after {tries} retries: {error}")

    assert run_sync(suspend(flaky).retry_or_else(Schedule.recurs(2), fallback)) == (
        "gave up after 2 retries: Unavailable(attempt=3)"
    )
    assert run_sync(retry_or_else(suspend(Flaky(1)), Schedule.recurs(2), fallback)) == "ok after 2"
    assert run_sync(suspend(Flaky(9)).pipe(retry_or_else(Schedule.recurs(0), fallback))).startswith("gave up after 0")


@pytest.mark.anyio
async def test_retry_waits_on_the_clock_in_scope_at_exact_times() -> None:
    flaky = Flaky(10)
    eff = suspend(flaky).retry(Schedule.exponential("100 millis"), times=4)

    ex = await on_test_clock(eff, "1 hour")

    assert flaky.times == [0.0, 100.0, 300.0, 700.0, 1500.0]
    assert ex == Failure(Fail(Unavailable(5)))


@pytest.mark.anyio
async def test_retry_up_to_stops_by_elapsed_time() -> None:
    flaky = Flaky(100)
    eff = suspend(flaky).retry(Schedule.spaced("1 second").up_to("3.5 seconds"))

    ex = await on_test_clock(eff, "1 hour")

    assert flaky.times == [0.0, 1000.0, 2000.0, 3000.0, 4000.0]
    assert ex == Failure(Fail(Unavailable(5)))


@pytest.mark.anyio
async def test_jittered_retry_is_reproducible_with_a_seeded_random() -> None:
    policy = Schedule.exponential("100 millis").jittered().intersect(Schedule.recurs(3))
    runs: list[list[float]] = []
    for _ in range(2):
        flaky = Flaky(3)
        eff = suspend(flaky).retry(policy).pipe(provide(Layer.succeed(Random, Random(seed=7))))
        assert await on_test_clock(eff, "1 hour") == Success("ok after 4")
        runs.append(flaky.times)
    assert runs[0] == runs[1]
    gaps = [b - a for a, b in zip(runs[0], runs[0][1:], strict=False)]
    assert [80 <= gap / base <= 120 for gap, base in zip(gaps, [1, 2, 4], strict=True)] == [True] * 3
    assert gaps != [100.0, 200.0, 400.0]


@pytest.mark.anyio
async def test_interrupting_a_retry_while_it_waits_stops_it_and_runs_finalizers() -> None:
    clock = TestClock()
    flaky = Flaky(100)
    finalized: list[str] = []
    eff = suspend(flaky).retry(Schedule.spaced("1 second")).ensuring(sync(lambda: finalized.append("done")))
    outcome: list[Exit[object]] = []

    async def runner(scope: anyio.CancelScope) -> None:
        with scope:
            outcome.append(await run_promise_exit(eff.pipe(provide(Layer.succeed(Clock, clock)))))

    scope = anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner, scope)
        await anyio.wait_all_tasks_blocked()
        await run_promise(clock.adjust("2.5 seconds"))
        scope.cancel()
    await run_promise(clock.adjust("10 seconds"))
    assert flaky.times == [0.0, 1000.0, 2000.0]
    assert finalized == ["done"]
    assert outcome == []  # cancelled: the runner's await was interrupted


# -- repeat ----------------------------------------------------------------------------------


def test_repeat_runs_again_as_the_schedule_says_and_gives_its_last_output() -> None:
    count: list[int] = []
    tick = sync(lambda: count.append(1)).as_(len(count))
    assert run_sync(tick.repeat(Schedule.recurs(3))) == 3
    assert len(count) == 4
    assert run_sync(repeat(tick, Schedule.recurs(1))) == 1
    assert run_sync(tick.pipe(repeat(Schedule.recurs(0)))) == 0
    assert len(count) == 7


def test_repeat_times_while_and_until_give_the_last_value() -> None:
    n = [0]

    def bump() -> int:
        n[0] += 1
        return n[0]

    assert run_sync(sync(bump).repeat(times=2)) == 3
    assert run_sync(sync(bump).pipe(repeat(times=1))) == 5
    assert run_sync(repeat(sync(bump), while_=lambda v: v < 8)) == 8
    assert run_sync(sync(bump).repeat(until=lambda v: v % 5 == 0)) == 10


def test_repeat_stops_at_the_first_failure() -> None:
    flaky = Flaky(2)
    # Flaky succeeds only after failing: reversed, it fails on the first run.
    assert run_sync_exit(suspend(flaky).repeat(times=5)) == Failure(Fail(Unavailable(1)))
    boom = ValueError("x")
    assert run_sync_exit(die(boom).repeat(times=5)) == Failure(Die(boom))


def test_repeat_of_100_000_steps_does_not_grow_the_stack() -> None:
    depths: list[int] = []

    def depth() -> int:
        frame, n = sys._getframe(), 0
        while frame is not None:
            frame, n = frame.f_back, n + 1  # type: ignore[assignment]  # f_back is None at the bottom
        return n

    step = sync(lambda: depths.append(depth()))
    assert run_sync(step.repeat(Schedule.recurs(100_000))) == 100_000
    assert len(depths) == 100_001
    assert max(depths) == min(depths)


@pytest.mark.anyio
async def test_repeat_spaced_runs_at_exact_clock_times() -> None:
    times: list[float] = []
    eff = current_time_millis().map(times.append).repeat(Schedule.spaced("1 minute").intersect(Schedule.recurs(3)))

    ex = await on_test_clock(eff, "1 hour")

    assert times == [0.0, 60_000.0, 120_000.0, 180_000.0]
    assert ex == Success((3, 3))


def test_delays_read_durations() -> None:
    assert Schedule.fibonacci(Duration.seconds(1)).delays(inputs=3) == [1000.0, 1000.0, 2000.0]
