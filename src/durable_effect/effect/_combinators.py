"""Function forms of the combinators, data-first and pipeable.

Every combinator that takes an effect has two forms: data-first
(`catch_tag(eff, NotFound, f)`) and pipeable (`eff.pipe(catch_tag(NotFound,
f))`). The pipeable forms of `catch_tag`, `catch_tags` and `provide` remove
the handled errors / provided services from the effect's type.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Never, ParamSpec, Protocol, TypeVar, overload

import anyio

from durable_effect.effect._core import (
    SERVICES,
    Effect,
    TimeoutException,
    _Async,
    _catch_all,
    _catch_all_defect,
    _catch_tag,
    _either,
    _Ensuring,
    _Fail,
    _FlatMap,
    _Fold,
    _Gen,
    _map_error,
    _or_die,
    _Provide,
    _Succeed,
    _Suspend,
    _Sync,
    _tap_error,
)
from durable_effect.effect.cause import Cause, Fail, Interrupt
from durable_effect.effect.clock import Clock, sleep
from durable_effect.effect.clock import _now as _clock_now
from durable_effect.effect.duration import Duration, DurationInput
from durable_effect.effect.exit import Exit, Failure, Success
from durable_effect.effect.layer import Layer
from durable_effect.effect.random import current as _current_random
from durable_effect.effect.schedule import Schedule

if TYPE_CHECKING:
    from returns.result import Result

P = ParamSpec("P")
A = TypeVar("A")
A2 = TypeVar("A2")
A3 = TypeVar("A3")
A4 = TypeVar("A4")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
F = TypeVar("F")
G = TypeVar("G")
H = TypeVar("H")
E = TypeVar("E")
E2 = TypeVar("E2")
E3 = TypeVar("E3")
E4 = TypeVar("E4")
R = TypeVar("R")
R2 = TypeVar("R2")
R3 = TypeVar("R3")
R4 = TypeVar("R4")
X = TypeVar("X")
X2 = TypeVar("X2")
X3 = TypeVar("X3")

Concurrency = int | Literal["unbounded"] | None

_log = logging.getLogger("durable_effect")


# -- gen -------------------------------------------------------------------------


def gen(fn: Callable[P, Generator[Effect[object, E, R], object, A]]) -> Callable[P, Effect[A, E, R]]:
    """Turn a generator function into a function returning a lazy `Effect`.

    Inside, `x = yield from eff` runs `eff` and binds its value; the
    generator's return value is the effect's success value. Annotate the
    function as returning `EffectGen[A, E, R]`.
    """

    @functools.wraps(fn)
    def make(*args: P.args, **kwargs: P.kwargs) -> Effect[A, E, R]:
        return _Gen(fn, args, kwargs)

    return make


# -- pipe -------------------------------------------------------------------------


@overload
def pipe(a: A, /) -> A: ...
@overload
def pipe(a: A, ab: Callable[[A], B], /) -> B: ...
@overload
def pipe(a: A, ab: Callable[[A], B], bc: Callable[[B], C], /) -> C: ...
@overload
def pipe(a: A, ab: Callable[[A], B], bc: Callable[[B], C], cd: Callable[[C], D], /) -> D: ...
@overload
def pipe(a: A, ab: Callable[[A], B], bc: Callable[[B], C], cd: Callable[[C], D], de: Callable[[D], F], /) -> F: ...
@overload
def pipe(
    a: A,
    ab: Callable[[A], B],
    bc: Callable[[B], C],
    cd: Callable[[C], D],
    de: Callable[[D], F],
    ef: Callable[[F], G],
    /,
) -> G: ...
@overload
def pipe(
    a: A,
    ab: Callable[[A], B],
    bc: Callable[[B], C],
    cd: Callable[[C], D],
    de: Callable[[D], F],
    ef: Callable[[F], G],
    fg: Callable[[G], H],
    /,
) -> H: ...
def pipe(a: object, *fns: Callable[[Any], Any]) -> Any:  # Any: each step is typed by the overloads
    """`pipe(x, f, g) == g(f(x))`."""
    value: Any = a
    for fn in fns:
        value = fn(value)
    return value


# -- sequencing -------------------------------------------------------------------


@overload
def map(f: Callable[[A], B], /) -> Callable[[Effect[A, E, R]], Effect[B, E, R]]: ...
@overload
def map(eff: Effect[A, E, R], f: Callable[[A], B], /) -> Effect[B, E, R]: ...
def map(*args: Any) -> Any:
    """Transform the success value."""
    if isinstance(args[0], Effect):
        return args[0].map(args[1])
    f = args[0]
    return lambda eff: eff.map(f)


@overload
def flat_map(f: Callable[[A], Effect[B, E2, R2]], /) -> Callable[[Effect[A, E, R]], Effect[B, E | E2, R | R2]]: ...
@overload
def flat_map(eff: Effect[A, E, R], f: Callable[[A], Effect[B, E2, R2]], /) -> Effect[B, E | E2, R | R2]: ...
def flat_map(*args: Any) -> Any:
    """Chain an effect that depends on the success value."""
    if isinstance(args[0], Effect):
        return args[0].flat_map(args[1])
    f = args[0]
    return lambda eff: eff.flat_map(f)


@overload
def tap(f: Callable[[A], Effect[object, E2, R2]], /) -> Callable[[Effect[A, E, R]], Effect[A, E | E2, R | R2]]: ...
@overload
def tap(eff: Effect[A, E, R], f: Callable[[A], Effect[object, E2, R2]], /) -> Effect[A, E | E2, R | R2]: ...
def tap(*args: Any) -> Any:
    """Run an effect on the success value, keep the value."""
    if isinstance(args[0], Effect):
        return args[0].tap(args[1])
    f = args[0]
    return lambda eff: eff.tap(f)


@overload
def zip(that: Effect[B, E2, R2], /) -> Callable[[Effect[A, E, R]], Effect[tuple[A, B], E | E2, R | R2]]: ...
@overload
def zip(eff: Effect[A, E, R], that: Effect[B, E2, R2], /) -> Effect[tuple[A, B], E | E2, R | R2]: ...
def zip(*args: Any) -> Any:
    """Run two effects in order; succeed with both values."""
    if len(args) == 2:
        return args[0].zip(args[1])
    that = args[0]
    return lambda eff: eff.zip(that)


@overload
def all(  # type: ignore[overload-overlap]  # a tuple gives a tuple, any other iterable a list
    effects: tuple[Effect[A, E, R], Effect[B, E2, R2]], /, *, concurrency: Concurrency = None
) -> Effect[tuple[A, B], E | E2, R | R2]: ...
@overload
def all(  # type: ignore[overload-overlap]  # a tuple gives a tuple, any other iterable a list
    effects: tuple[Effect[A, E, R], Effect[B, E2, R2], Effect[C, E3, R3]],
    /,
    *,
    concurrency: Concurrency = None,
) -> Effect[tuple[A, B, C], E | E2 | E3, R | R2 | R3]: ...
@overload
def all(effects: Iterable[Effect[A, E, R]], /, *, concurrency: Concurrency = None) -> Effect[list[A], E, R]: ...
def all(effects: Iterable[Effect[Any, Any, Any]], /, *, concurrency: Concurrency = None) -> Effect[Any, Any, Any]:
    """Run effects and collect their values (a tuple for a tuple, else a list).

    Sequential by default. With `concurrency="unbounded"` or a number, they
    run as anyio tasks (at most that many at once); the first failure cancels
    the others and is the result.
    """
    as_tuple = isinstance(effects, tuple)
    items = list(effects)
    if concurrency is None or concurrency == 1:
        eff: Effect[list[Any], Any, Any] = _Gen(_sequence, (items,), {})
    else:
        eff = _Async(_concurrent_runner(items, None if concurrency == "unbounded" else concurrency))
    return eff.map(tuple) if as_tuple else eff


def _sequence(items: Sequence[Effect[Any, Any, Any]]) -> Generator[Effect[Any, Any, Any], Any, list[Any]]:
    out: list[Any] = []
    for item in items:
        out.append((yield item))
    return out


def _concurrent_runner(
    items: Sequence[Effect[Any, Any, Any]], limit: int | None
) -> Callable[[Mapping[type, object]], Any]:
    from durable_effect.effect._runtime import run_loop

    async def run(services: Mapping[type, object]) -> Exit[list[Any], Any]:
        results: list[Any] = [None] * len(items)
        failure: list[Cause[Any]] = []
        limiter = anyio.CapacityLimiter(limit) if limit is not None else None

        async def child(i: int, eff: Effect[Any, Any, Any], scope: anyio.CancelScope) -> None:
            if limiter is not None:
                async with limiter:
                    ex = await run_loop(eff, services)
            else:
                ex = await run_loop(eff, services)
            if type(ex) is Success:
                results[i] = ex.value
            elif not failure:
                assert isinstance(ex, Failure)
                failure.append(ex.cause)
                scope.cancel()

        async with anyio.create_task_group() as tg:
            for i, eff in enumerate(items):
                tg.start_soon(child, i, eff, tg.cancel_scope)
        if failure:
            return Failure(failure[0])
        return Success(results)

    return run


# -- errors -----------------------------------------------------------------------


@overload
def catch_tag(
    cls: type[X], f: Callable[[X], Effect[A2, E2, R2]], /
) -> Callable[[Effect[A, X | E, R]], Effect[A | A2, E | E2, R | R2]]: ...
@overload
def catch_tag(
    eff: Effect[A, E, R], cls: type[X], f: Callable[[X], Effect[A2, E2, R2]], /
) -> Effect[A | A2, E | E2, R | R2]: ...
def catch_tag(*args: Any) -> Any:
    """Recover from failures that are instances of one error class.

    The pipeable form removes the class from `E`.
    """
    if isinstance(args[0], Effect):
        return _catch_tag(args[0], args[1], args[2])
    cls, f = args
    return lambda eff: _catch_tag(eff, cls, f)


@overload
def catch_tags(
    h1: tuple[type[X], Callable[[X], Effect[A2, E2, R2]]], /
) -> Callable[[Effect[A, X | E, R]], Effect[A | A2, E | E2, R | R2]]: ...
@overload
def catch_tags(
    h1: tuple[type[X], Callable[[X], Effect[A2, E2, R2]]],
    h2: tuple[type[X2], Callable[[X2], Effect[A3, E3, R3]]],
    /,
) -> Callable[[Effect[A, X | X2 | E, R]], Effect[A | A2 | A3, E | E2 | E3, R | R2 | R3]]: ...
@overload
def catch_tags(
    h1: tuple[type[X], Callable[[X], Effect[A2, E2, R2]]],
    h2: tuple[type[X2], Callable[[X2], Effect[A3, E3, R3]]],
    h3: tuple[type[X3], Callable[[X3], Effect[A4, E4, R4]]],
    /,
) -> Callable[[Effect[A, X | X2 | X3 | E, R]], Effect[A | A2 | A3 | A4, E | E2 | E3 | E4, R | R2 | R3 | R4]]: ...
def catch_tags(*handlers: tuple[type[Any], Callable[[Any], Effect[Any, Any, Any]]]) -> Any:
    """Recover from several error classes, each with its own handler (pipeable)."""

    def apply(eff: Effect[Any, Any, Any]) -> Effect[Any, Any, Any]:
        def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
            if isinstance(cause, Fail):
                for cls, handler in handlers:
                    if isinstance(cause.error, cls):
                        return handler(cause.error)
            return _Fail(cause)

        return _Fold(eff, on_failure, None)

    return apply


@overload
def catch_all(f: Callable[[E], Effect[A2, E2, R2]], /) -> Callable[[Effect[A, E, R]], Effect[A | A2, E2, R | R2]]: ...
@overload
def catch_all(eff: Effect[A, E, R], f: Callable[[E], Effect[A2, E2, R2]], /) -> Effect[A | A2, E2, R | R2]: ...
def catch_all(*args: Any) -> Any:
    """Recover from any typed failure."""
    if isinstance(args[0], Effect):
        return _catch_all(args[0], args[1])
    f = args[0]
    return lambda eff: _catch_all(eff, f)


@overload
def catch_all_defect(
    f: Callable[[BaseException], Effect[A2, E2, R2]], /
) -> Callable[[Effect[A, E, R]], Effect[A | A2, E | E2, R | R2]]: ...
@overload
def catch_all_defect(
    eff: Effect[A, E, R], f: Callable[[BaseException], Effect[A2, E2, R2]], /
) -> Effect[A | A2, E | E2, R | R2]: ...
def catch_all_defect(*args: Any) -> Any:
    """Recover from a defect."""
    if isinstance(args[0], Effect):
        return _catch_all_defect(args[0], args[1])
    f = args[0]
    return lambda eff: _catch_all_defect(eff, f)


@overload
def map_error(f: Callable[[E], E2], /) -> Callable[[Effect[A, E, R]], Effect[A, E2, R]]: ...
@overload
def map_error(eff: Effect[A, E, R], f: Callable[[E], E2], /) -> Effect[A, E2, R]: ...
def map_error(*args: Any) -> Any:
    """Transform the typed error."""
    if isinstance(args[0], Effect):
        return _map_error(args[0], args[1])
    f = args[0]
    return lambda eff: _map_error(eff, f)


@overload
def tap_error(
    f: Callable[[E], Effect[object, E2, R2]], /
) -> Callable[[Effect[A, E, R]], Effect[A, E | E2, R | R2]]: ...
@overload
def tap_error(eff: Effect[A, E, R], f: Callable[[E], Effect[object, E2, R2]], /) -> Effect[A, E | E2, R | R2]: ...
def tap_error(*args: Any) -> Any:
    """Run an effect on the typed error; the failure stays."""
    if isinstance(args[0], Effect):
        return _tap_error(args[0], args[1])
    f = args[0]
    return lambda eff: _tap_error(eff, f)


def or_die(eff: Effect[A, E, R], /) -> Effect[A, Never, R]:
    """Turn typed failures into defects (pipeable as is: `eff.pipe(or_die)`)."""
    return _or_die(eff)


def either(eff: Effect[A, E, R], /) -> Effect[Result[A, E], Never, R]:
    """Succeed with a `returns.result.Result` (pipeable as is)."""
    return _either(eff)


@overload
def ensuring(finalizer: Effect[object, Never, R2], /) -> Callable[[Effect[A, E, R]], Effect[A, E, R | R2]]: ...
@overload
def ensuring(eff: Effect[A, E, R], finalizer: Effect[object, Never, R2], /) -> Effect[A, E, R | R2]: ...
def ensuring(*args: Any) -> Any:
    """Run `finalizer` after the effect, whatever the outcome (interruption too)."""
    if len(args) == 2:
        return _Ensuring(args[0], args[1])
    fin = args[0]
    return lambda eff: _Ensuring(eff, fin)


@overload
def timeout(duration: DurationInput, /) -> Callable[[Effect[A, E, R]], Effect[A, E | TimeoutException, R]]: ...
@overload
def timeout(eff: Effect[A, E, R], duration: DurationInput, /) -> Effect[A, E | TimeoutException, R]: ...
def timeout(*args: Any) -> Any:
    """Fail with `TimeoutException` when the effect runs longer than `duration`
    on the `Clock` in scope; the effect is interrupted (its finalizers run)."""
    if len(args) == 2:
        return _timeout(args[0], Duration.decode(args[1]).millis)
    millis = Duration.decode(args[0]).millis
    return lambda eff: _timeout(eff, millis)


def _timeout(eff: Effect[Any, Any, Any], millis: float) -> Effect[Any, Any, Any]:
    from durable_effect.effect._runtime import run_loop

    async def run(services: Mapping[type, object]) -> Exit[Any, Any]:
        clock = services[Clock]
        assert isinstance(clock, Clock)
        timed_out = False
        result: Exit[Any, Any] | None = None

        async def timer(scope: anyio.CancelScope) -> None:
            nonlocal timed_out
            await clock.sleep(millis)
            timed_out = True
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(timer, tg.cancel_scope)
            result = await run_loop(eff, services)
            tg.cancel_scope.cancel()
        if result is None or (timed_out and type(result) is not Success):
            return Failure(Fail(TimeoutException(millis)))
        return result

    return _Async(run)


# -- services ---------------------------------------------------------------------


@overload
def provide(layer: Layer[X, E2, R2], /) -> Callable[[Effect[A, E, X | R]], Effect[A, E | E2, R | R2]]: ...
@overload
def provide(eff: Effect[A, E, R], layer: Layer[object, E2, R2], /) -> Effect[A, E | E2, R | R2]: ...
def provide(*args: Any) -> Any:
    """Provide the services a layer builds; the pipeable form removes them from `R`."""
    if len(args) == 2:
        return _Provide(args[0], args[1])
    layer = args[0]
    return lambda eff: _Provide(eff, layer)


def with_services(
    handler: Callable[P, Effect[A, E, X | R]], layer: Layer[X, E2, R2]
) -> Callable[P, Effect[A, E | E2, R | R2]]:
    """Wrap a function returning an effect so each effect it returns is
    provided with `layer`."""

    @functools.wraps(handler)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> Effect[A, E | E2, R | R2]:
        return _Provide(handler(*args, **kwargs), layer)

    return wrapped


# -- misc -------------------------------------------------------------------------


def _forever(_: Mapping[type, object]) -> Any:
    return anyio.sleep_forever()


never: Effect[Never] = _Async(_forever)
"""An effect that never completes (until interrupted)."""


def interrupt() -> Effect[Never]:
    """An effect that stops as if interrupted."""
    return _Fail(Interrupt())


def log(*message: object, level: int = logging.INFO) -> Effect[None]:
    """Log a message (parts joined by spaces) to the `durable_effect` logger."""
    return _Sync(lambda: _log.log(level, " ".join(str(m) for m in message)))


def log_debug(*message: object) -> Effect[None]:
    return log(*message, level=logging.DEBUG)


def log_warning(*message: object) -> Effect[None]:
    return log(*message, level=logging.WARNING)


def log_error(*message: object) -> Effect[None]:
    return log(*message, level=logging.ERROR)


# -- schedules: retry and repeat ------------------------------------------------------


class _SameEffect(Protocol):
    """A pipeable step that keeps the effect's type: `Effect[A, E, R] -> Effect[A, E, R]`."""

    def __call__(self, eff: Effect[A, E, R], /) -> Effect[A, E, R]: ...


def _policy(
    schedule: Schedule[Any, Any] | None,
    times: int | None,
    while_: Callable[[Any], bool] | None,
    until: Callable[[Any], bool] | None,
) -> Schedule[Any, Any]:
    policy: Schedule[Any, Any] = schedule if schedule is not None else Schedule.forever()
    if times is not None:
        policy = policy.intersect(Schedule.recurs(times)).map(_first)
    if while_ is not None:
        policy = policy.while_input(while_)
    if until is not None:
        policy = policy.until_input(until)
    return policy


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def _wait_then(delay: float, then: Effect[Any, Any, Any]) -> Effect[Any, Any, Any]:
    if delay <= 0:
        return then
    return _FlatMap(sleep(delay), lambda _: then)


def _retry(
    eff: Effect[Any, Any, Any],
    schedule: Schedule[Any, Any],
    or_else: Callable[[Any, Any], Effect[Any, Any, Any]] | None,
) -> Effect[Any, Any, Any]:
    step = schedule._step

    def attempt(state: object) -> Effect[Any, Any, Any]:
        def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
            if type(cause) is not Fail:
                return _Fail(cause)  # defects and interruption are never retried
            error = cause.error

            def decide(services: Mapping[type, object]) -> Effect[Any, Any, Any]:
                nxt, out, delay = step(_clock_now(services), error, state, _current_random(services).rng.random)
                if delay is None:
                    return _Fail(cause) if or_else is None else or_else(error, out)
                return _wait_then(delay, attempt(nxt))

            return _FlatMap(SERVICES, decide)

        return _Fold(eff, on_failure, None)

    initial = schedule._initial
    return _Suspend(lambda: attempt(initial))


def _repeat(eff: Effect[Any, Any, Any], schedule: Schedule[Any, Any], keep_value: bool) -> Effect[Any, Any, Any]:
    step = schedule._step

    def attempt(state: object) -> Effect[Any, Any, Any]:
        def after(value: object) -> Effect[Any, Any, Any]:
            def decide(services: Mapping[type, object]) -> Effect[Any, Any, Any]:
                nxt, out, delay = step(_clock_now(services), value, state, _current_random(services).rng.random)
                if delay is None:
                    return _Succeed(value if keep_value else out)
                return _wait_then(delay, attempt(nxt))

            return _FlatMap(SERVICES, decide)

        return _FlatMap(eff, after)

    initial = schedule._initial
    return _Suspend(lambda: attempt(initial))


@overload
def retry(
    eff: Effect[A, E, R],
    schedule: Schedule[object, E] | None = None,
    /,
    *,
    times: int | None = None,
    while_: Callable[[E], bool] | None = None,
    until: Callable[[E], bool] | None = None,
) -> Effect[A, E, R]: ...
@overload
def retry(schedule: Schedule[object, object] | None = None, /, *, times: int | None = None) -> _SameEffect: ...
@overload
def retry(
    schedule: Schedule[object, X] | None = None,
    /,
    *,
    times: int | None = None,
    while_: Callable[[X], bool] | None = None,
    until: Callable[[X], bool] | None = None,
) -> Callable[[Effect[A, X, R]], Effect[A, X, R]]: ...
def retry(*args: Any, **options: Any) -> Any:
    """Run the effect again after a typed failure, as the schedule says
    (`retry(Schedule.exponential("100 millis"), times=5)`); once it stops
    recurring, the last failure is the result. `times`, `while_` and `until`
    limit the schedule (without one: retry at once). Defects and interruption
    are never retried. The typed error `E` is unchanged."""
    if args and isinstance(args[0], Effect):
        return _retry(args[0], _policy(*args[1:2] or (None,), **_options(options)), None)
    policy = _policy(*args[:1] or (None,), **_options(options))
    return lambda eff: _retry(eff, policy, None)


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {"times": options.get("times"), "while_": options.get("while_"), "until": options.get("until")}


@overload
def retry_or_else(
    eff: Effect[A, E, R], schedule: Schedule[B, E], or_else: Callable[[E, B], Effect[A2, E2, R2]], /
) -> Effect[A | A2, E2, R | R2]: ...
@overload
def retry_or_else(
    schedule: Schedule[B, X], or_else: Callable[[E, B], Effect[A2, E2, R2]], /
) -> Callable[[Effect[A, E, R]], Effect[A | A2, E2, R | R2]]: ...
def retry_or_else(*args: Any) -> Any:
    """Retry as the schedule says; when it stops, recover with
    `or_else(last_error, last_output)` instead of failing."""
    if isinstance(args[0], Effect):
        return _retry(args[0], args[1], args[2])
    schedule, or_else = args
    return lambda eff: _retry(eff, schedule, or_else)


@overload
def repeat(eff: Effect[A, E, R], schedule: Schedule[B, A], /) -> Effect[B, E, R]: ...
@overload
def repeat(
    eff: Effect[A, E, R],
    /,
    *,
    times: int | None = None,
    while_: Callable[[A], bool] | None = None,
    until: Callable[[A], bool] | None = None,
) -> Effect[A, E, R]: ...
@overload
def repeat(schedule: Schedule[B, A], /) -> Callable[[Effect[A, E, R]], Effect[B, E, R]]: ...
@overload
def repeat(*, times: int) -> _SameEffect: ...
def repeat(*args: Any, **options: Any) -> Any:
    """Run the effect, then again as the schedule says, fed each value; the
    result is the schedule's last output. With `times=n` (and `while_` /
    `until` on the value) instead: the last value. The first failure stops it."""
    if args and isinstance(args[0], Effect):
        eff, rest = args[0], args[1:]
        if rest:
            return _repeat(eff, rest[0], False)
        return _repeat(eff, _policy(None, **_options(options)), True)
    if args:
        schedule = args[0]
        return lambda eff: _repeat(eff, schedule, False)
    policy = _policy(None, **_options(options))
    return lambda eff: _repeat(eff, policy, True)
