"""A runnable tour of `durable_effect.effect`: every example of docs/effect.md.

Run it with `python examples/effect_tour.py`. The test
tests/examples/test_effect_tour.py runs `main()` and checks that every code
block of docs/effect.md appears in this file word for word.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Never

import anyio
import trio
from returns.result import Result

from durable_effect.effect import (
    AsyncEffectInSyncRun,
    Clock,
    Die,
    Duration,
    Effect,
    EffectGen,
    Failure,
    Layer,
    Service,
    Success,
    TaggedError,
    TestClock,
    TimeoutException,
    catch_all,
    catch_tag,
    current_time_millis,
    die,
    either,
    ensuring,
    fail,
    gen,
    interrupt,
    log,
    or_die,
    pipe,
    promise,
    provide,
    run_promise,
    run_sync,
    run_sync_exit,
    sleep,
    succeed,
    suspend,
    sync,
    timeout,
    try_,
    try_promise,
    void,
    with_services,
)

# -- effects are lazy values ---------------------------------------------------------

answer: Effect[int] = succeed(42)
sentence: Effect[str] = answer.map(lambda n: f"the answer is {n}")


def effects_are_lazy() -> None:
    calls: list[str] = []
    record: Effect[None] = sync(lambda: calls.append("ran"))
    assert calls == []  # building an effect runs nothing
    run_sync(record)
    run_sync(record)  # an effect is a recipe: each run runs it again
    assert calls == ["ran", "ran"]
    assert run_sync(sentence) == "the answer is 42"


# -- constructors --------------------------------------------------------------------


class ParseError(TaggedError):
    text: str


def parse(text: str) -> Effect[int, ParseError]:
    # try_ turns the exception int() raises into a typed error
    return try_(lambda: int(text), lambda _: ParseError(text))


async def fetch_name() -> str:
    await anyio.sleep(0)
    return "Ada"


name_from_io: Effect[str] = promise(fetch_name)  # an exception it raises is a defect
name_or_error: Effect[str, ParseError] = try_promise(fetch_name, lambda _: ParseError("name"))
not_a_number: Effect[Never, ParseError] = fail(ParseError("x"))
bug: Effect[Never] = die(RuntimeError("bug"))  # a defect: not part of E
started: Effect[float] = suspend(lambda: succeed(time.monotonic()))  # built again on each run
done: Effect[None] = void


def constructors() -> None:
    assert run_sync(parse("7")) == 7
    assert run_sync(parse("seven").either()).failure() == ParseError("seven")
    assert run_sync(not_a_number.either()).failure() == ParseError("x")
    assert run_sync(started) <= run_sync(started)
    assert run_sync(done) is None


# -- generators ----------------------------------------------------------------------


class DivisionByZero(TaggedError):
    pass


@gen
def divide(a: str, b: str) -> EffectGen[float, ParseError | DivisionByZero]:
    x = yield from parse(a)
    y = yield from parse(b)
    if y == 0:
        return (yield from DivisionByZero())  # a TaggedError is yieldable: it fails the effect
    return x / y


def generators() -> None:
    assert run_sync(divide("6", "3")) == 2.0
    try:
        run_sync(divide("1", "0"))
    except DivisionByZero as err:  # run_sync raises the typed error itself
        assert err._tag == "DivisionByZero"
    else:
        raise AssertionError("divide('1', '0') should fail")


# -- typed errors --------------------------------------------------------------------


infinite: Effect[float, ParseError] = divide("1", "0").pipe(
    catch_tag(DivisionByZero, lambda _: succeed(float("inf")))
)


def zero(_: ParseError | DivisionByZero) -> Effect[float]:
    return succeed(0.0)


zero_on_error: Effect[float] = divide("x", "1").pipe(catch_all(zero))
as_result: Effect[Result[float, ParseError | DivisionByZero]] = divide("1", "0").pipe(either)
as_text: Effect[float, str] = divide("x", "1").map_error(lambda err: err._tag)  # methods take lambdas
or_defect: Effect[float] = divide("1", "0").pipe(or_die)


def typed_errors() -> None:
    assert run_sync(infinite) == float("inf")
    assert run_sync(zero_on_error) == 0.0
    assert run_sync(as_result).failure() == DivisionByZero()
    assert run_sync(divide("6", "3").pipe(either)).unwrap() == 2.0
    assert run_sync(as_text.either()).failure() == "ParseError"
    crashed = run_sync_exit(or_defect)
    assert isinstance(crashed, Failure) and crashed.cause.defects() == [DivisionByZero()]


# -- services and layers ---------------------------------------------------------------


class Greeter(Service):
    def greet(self, name: str) -> Effect[str]:
        raise NotImplementedError  # not @abstractmethod: mypy refuses an abstract class as a tag


class Audit(Service):
    def record(self, event: str) -> Effect[None]:
        raise NotImplementedError


class EnglishGreeter(Greeter):
    def greet(self, name: str) -> Effect[str]:
        return succeed(f"Hello, {name}!")


class MemoryAudit(Audit):
    def __init__(self) -> None:
        self.events: list[str] = []

    def record(self, event: str) -> Effect[None]:
        return sync(lambda: self.events.append(event))


@gen
def welcome(name: str) -> EffectGen[str, Never, Greeter | Audit]:
    greeter = yield from Greeter  # the implementation in scope; adds Greeter to R
    audit = yield from Audit
    text = yield from greeter.greet(name)
    yield from audit.record(f"welcomed {name}")
    return text


def services() -> None:
    audit = MemoryAudit()
    app: Layer[Greeter | Audit] = Layer.merge(
        Layer.succeed(Greeter, EnglishGreeter()),
        Layer.succeed(Audit, audit),
    )
    ready: Effect[str] = welcome("Ada").pipe(provide(app))  # R is now Never: it can run
    assert run_sync(ready) == "Hello, Ada!"

    handler = with_services(welcome, app)  # every effect it returns is provided
    assert run_sync(handler("Grace")) == "Hello, Grace!"
    assert audit.events == ["welcomed Ada", "welcomed Grace"]


@gen
def make_greeter() -> EffectGen[Greeter]:
    yield from log("building the greeter")  # runs when the layer is built, not before
    return EnglishGreeter()


greeter_layer: Layer[Greeter] = Layer.effect(Greeter, make_greeter())
audit_layer: Layer[Audit] = Layer.sync(Audit, MemoryAudit)  # calls MemoryAudit() when built


def layers() -> None:
    app = Layer.merge(greeter_layer, audit_layer)
    assert run_sync(welcome("Lin").pipe(provide(app))) == "Hello, Lin!"


# -- time --------------------------------------------------------------------------------


@gen
def reminder() -> EffectGen[float]:
    yield from sleep("5 minutes")
    return (yield from current_time_millis())


async def fast_forward() -> float:
    clock = TestClock()
    on_test_clock = reminder().pipe(provide(Layer.succeed(Clock, clock)))
    woke: list[float] = []

    async def run_reminder() -> None:
        woke.append(await run_promise(on_test_clock))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_reminder)
        await anyio.wait_all_tasks_blocked()  # the reminder is asleep
        await run_promise(clock.adjust("5 minutes"))  # ...and wakes, instantly
    return woke[0]


def durations() -> None:
    assert Duration.decode("5 minutes").millis == 300_000
    assert Duration.decode(timedelta(seconds=2)) == Duration.seconds(2)
    assert Duration.decode(250).millis == 250  # a number is milliseconds


too_slow: Effect[None, TimeoutException] = sleep("1 minute").pipe(timeout("10 millis"))


async def timing() -> None:
    assert await fast_forward() == 300_000.0
    assert (await run_promise(too_slow.pipe(either))).failure() == TimeoutException(10.0)


# -- exits and causes ----------------------------------------------------------------------


def exits() -> None:
    match run_sync_exit(divide("1", "0")):
        case Success(value):
            raise AssertionError(f"unexpected {value}")
        case Failure(cause):
            assert cause.failures() == [DivisionByZero()]

    crashed = run_sync_exit(sync(lambda: 1 // 0))
    assert isinstance(crashed, Failure) and isinstance(crashed.cause, Die)
    assert isinstance(crashed.cause.defect, ZeroDivisionError)  # keeps its traceback

    stopped = run_sync_exit(interrupt())
    assert isinstance(stopped, Failure) and stopped.cause.is_interrupted()

    cleaned: list[str] = []
    guarded = divide("1", "0").pipe(ensuring(sync(lambda: cleaned.append("closed"))))
    assert isinstance(run_sync_exit(guarded), Failure) and cleaned == ["closed"]


# -- runtimes ----------------------------------------------------------------------------------


async def handle(name: str) -> str:
    audit = MemoryAudit()
    layer = Layer.merge(Layer.succeed(Greeter, EnglishGreeter()), Layer.succeed(Audit, audit))
    return await run_promise(welcome(name).pipe(provide(layer)))


def runtimes() -> None:
    assert asyncio.run(handle("Ada")) == "Hello, Ada!"
    assert trio.run(handle, "Ada") == "Hello, Ada!"
    assert anyio.run(run_promise, name_from_io, backend="trio") == "Ada"
    assert anyio.run(run_promise, name_or_error) == "Ada"
    try:
        run_sync(name_from_io)  # it awaits, so only run_promise can run it
    except AsyncEffectInSyncRun:
        pass
    else:
        raise AssertionError("run_sync should refuse an effect that waits")
    try:
        run_sync(bug)
    except RuntimeError as err:  # a defect is re-raised as the original exception
        assert str(err) == "bug"
    else:
        raise AssertionError("run_sync should re-raise the defect")


# -- three styles ------------------------------------------------------------------------------


def to_inf(_: DivisionByZero) -> Effect[float]:
    return succeed(float("inf"))


data_first: Effect[float, ParseError | DivisionByZero] = catch_tag(divide("1", "0"), DivisionByZero, to_inf)
pipeable: Effect[float, ParseError] = divide("1", "0").pipe(catch_tag(DivisionByZero, to_inf))
piped: Effect[float, ParseError] = pipe(divide("1", "0"), catch_tag(DivisionByZero, to_inf))
method: Effect[float, ParseError | DivisionByZero] = divide("1", "0").catch_tag(DivisionByZero, to_inf)


def styles() -> None:
    for eff in (data_first, pipeable, piped, method):
        assert run_sync(eff) == float("inf")


# -- all of it -------------------------------------------------------------------------------


def main() -> None:
    effects_are_lazy()
    constructors()
    generators()
    typed_errors()
    services()
    layers()
    durations()
    anyio.run(timing)
    anyio.run(timing, backend="trio")
    exits()
    runtimes()
    styles()
    print("effect tour: every example ran")


if __name__ == "__main__":
    main()
