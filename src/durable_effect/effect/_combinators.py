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
    _Locally,
    _Map,
    _map_error,
    _or_die,
    _Provide,
    _Succeed,
    _Suspend,
    _tap_error,
)
from durable_effect.effect.cause import Cause, Fail, Interrupt, Sequential
from durable_effect.effect.clock import Clock, sleep
from durable_effect.effect.clock import _now as _clock_now
from durable_effect.effect.duration import Duration, DurationInput
from durable_effect.effect.exit import Exit, Failure, Success
from durable_effect.effect.layer import Layer
from durable_effect.effect.random import current as _current_random
from durable_effect.effect.schedule import Schedule

if TYPE_CHECKING:
    from returns.maybe import Maybe
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

    new = object.__new__

    @functools.wraps(fn)
    def make(*args: P.args, **kwargs: P.kwargs) -> Effect[A, E, R]:
        # Built without `_Gen.__init__`: one Python call less on every handler call.
        node: _Gen[A, E, R] = new(_Gen)
        node.fn = fn
        node.args = args
        node.kwargs = kwargs
        return node

    return make


def fn(name: str) -> Callable[[Callable[P, Generator[Effect[object, E, R], object, A]]], Callable[P, Effect[A, E, R]]]:
    """`gen` with a log span: `@fn("checkout")` over a generator function
    makes each effect it returns log with `checkout=<ms>` (see `with_log_span`)."""

    def decorate(body: Callable[P, Generator[Effect[object, E, R], object, A]]) -> Callable[P, Effect[A, E, R]]:
        make = gen(body)

        @functools.wraps(body)
        def named(*args: P.args, **kwargs: P.kwargs) -> Effect[A, E, R]:
            return _span(make(*args, **kwargs), name)

        return named

    return decorate


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


def _timeout(
    eff: Effect[Any, Any, Any],
    millis: float,
    on_timeout: Callable[[], Exit[Any, Any]] | None = None,
    on_success: Callable[[Any], Any] | None = None,
) -> Effect[Any, Any, Any]:
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
            return Failure(Fail(TimeoutException(millis))) if on_timeout is None else on_timeout()
        if on_success is not None and type(result) is Success:
            return Success(on_success(result.value))
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


class _LogContext:
    """The log annotations and spans in scope (kept in the services, under its own class)."""

    __slots__ = ("annotations", "spans")

    def __init__(self, annotations: tuple[tuple[str, object], ...], spans: tuple[tuple[str, float], ...]) -> None:
        self.annotations = annotations
        self.spans = spans


_NO_LOG_CONTEXT = _LogContext((), ())


def _log_context(services: Mapping[type, object]) -> _LogContext:
    ctx = services.get(_LogContext)
    return ctx if isinstance(ctx, _LogContext) else _NO_LOG_CONTEXT


def log(*message: object, level: int = logging.INFO) -> Effect[None]:
    """Log a message (parts joined by spaces) to the `durable_effect` logger.

    The spans (`label=12ms`) and annotations (`key=value`) in scope follow the
    message, and are on the record as `spans` and `annotations` dicts."""
    text = " ".join(str(m) for m in message)

    def write(services: Mapping[type, object]) -> None:
        ctx = _log_context(services)
        if not ctx.annotations and not ctx.spans:
            _log.log(level, text)
            return
        now = _clock_now(services)
        spans = {label: now - start for label, start in ctx.spans}
        annotations = dict(ctx.annotations)
        parts = [text, *(f"{k}={v:.0f}ms" for k, v in spans.items()), *(f"{k}={v}" for k, v in annotations.items())]
        _log.log(level, " ".join(parts), extra={"spans": spans, "annotations": annotations})

    return SERVICES.map(write)


def _annotate(eff: Effect[Any, Any, Any], key: str, value: object) -> Effect[Any, Any, Any]:
    def run(services: Mapping[type, object]) -> Effect[Any, Any, Any]:
        ctx = _log_context(services)
        kept = tuple(kv for kv in ctx.annotations if kv[0] != key)
        return _Locally(eff, {_LogContext: _LogContext((*kept, (key, value)), ctx.spans)})

    return _FlatMap(SERVICES, run)


@overload
def annotate_logs(key: str, value: object, /) -> _SameEffect: ...
@overload
def annotate_logs(eff: Effect[A, E, R], key: str, value: object, /) -> Effect[A, E, R]: ...
def annotate_logs(*args: Any) -> Any:
    """Add `key=value` to every line the effect logs."""
    if isinstance(args[0], Effect):
        return _annotate(args[0], args[1], args[2])
    key, value = args
    return lambda eff: _annotate(eff, key, value)


def _span(eff: Effect[Any, Any, Any], label: str) -> Effect[Any, Any, Any]:
    def run(services: Mapping[type, object]) -> Effect[Any, Any, Any]:
        ctx = _log_context(services)
        return _Locally(eff, {_LogContext: _LogContext(ctx.annotations, (*ctx.spans, (label, _clock_now(services))))})

    return _FlatMap(SERVICES, run)


@overload
def with_log_span(label: str, /) -> _SameEffect: ...
@overload
def with_log_span(eff: Effect[A, E, R], label: str, /) -> Effect[A, E, R]: ...
def with_log_span(*args: Any) -> Any:
    """Time the effect: each line it logs gets `label=<ms since the span began>`
    (on the `Clock` in scope)."""
    if isinstance(args[0], Effect):
        return _span(args[0], args[1])
    label = args[0]
    return lambda eff: _span(eff, label)


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

    # A node never changes once built: the first attempt serves every run.
    return attempt(schedule._initial)


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

    return attempt(schedule._initial)


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


# -- more combinators -------------------------------------------------------------------


@overload
def or_else(that: Callable[[], Effect[A2, E2, R2]], /) -> Callable[[Effect[A, E, R]], Effect[A | A2, E2, R | R2]]: ...
@overload
def or_else(eff: Effect[A, E, R], that: Callable[[], Effect[A2, E2, R2]], /) -> Effect[A | A2, E2, R | R2]: ...
def or_else(*args: Any) -> Any:
    """On a typed failure, run `that()` instead (defects and interruption pass)."""
    if isinstance(args[0], Effect):
        return _catch_all(args[0], lambda _: args[1]())
    that = args[0]
    return lambda eff: _catch_all(eff, lambda _: that())


def option(eff: Effect[A, E, R], /) -> Effect[Maybe[A], Never, R]:
    """`Some(value)` on success, `Nothing` on a typed failure (pipeable as is);
    defects and interruption pass."""
    from returns.maybe import Nothing, Some

    def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
        return _Succeed(Nothing) if type(cause) is Fail else _Fail(cause)

    return _Fold(eff, on_failure, lambda a: _Succeed(Some(a)))


def for_each(
    items: Iterable[A], f: Callable[[A], Effect[B, E, R]], /, *, concurrency: Concurrency = None
) -> Effect[list[B], E, R]:
    """Run `f` on each item, in order or (with `concurrency`) as in `all`, and
    collect the values. `f` is called when the effect runs."""
    values = list(items)
    if concurrency is None or concurrency == 1:
        return _Gen(_each_in_order, (values, f), {})
    return _Suspend(lambda: all([f(v) for v in values], concurrency=concurrency))


def _each_in_order(
    values: Sequence[Any], f: Callable[[Any], Effect[Any, Any, Any]]
) -> Generator[Effect[Any, Any, Any], Any, list[Any]]:
    out: list[Any] = []
    for v in values:
        out.append((yield f(v)))
    return out


def _condition(condition: bool | Callable[[], bool]) -> Callable[[], bool]:
    return condition if callable(condition) else lambda: condition


def _when(eff: Effect[Any, Any, Any], check: Callable[[], bool], expected: bool) -> Effect[Any, Any, Any]:
    from returns.maybe import Nothing, Some

    return _Suspend(lambda: eff.map(Some) if bool(check()) is expected else _Succeed(Nothing))


@overload
def when(condition: bool | Callable[[], bool], /) -> Callable[[Effect[A, E, R]], Effect[Maybe[A], E, R]]: ...
@overload
def when(eff: Effect[A, E, R], condition: bool | Callable[[], bool], /) -> Effect[Maybe[A], E, R]: ...
def when(*args: Any) -> Any:
    """Run the effect only if `condition` (a bool, or a function read when the
    effect runs) holds: `Some(value)`, else `Nothing`."""
    if isinstance(args[0], Effect):
        return _when(args[0], _condition(args[1]), True)
    check = _condition(args[0])
    return lambda eff: _when(eff, check, True)


@overload
def unless(condition: bool | Callable[[], bool], /) -> Callable[[Effect[A, E, R]], Effect[Maybe[A], E, R]]: ...
@overload
def unless(eff: Effect[A, E, R], condition: bool | Callable[[], bool], /) -> Effect[Maybe[A], E, R]: ...
def unless(*args: Any) -> Any:
    """Run the effect only if `condition` does not hold: `Some(value)`, else `Nothing`."""
    if isinstance(args[0], Effect):
        return _when(args[0], _condition(args[1]), False)
    check = _condition(args[0])
    return lambda eff: _when(eff, check, False)


def _match_effect(
    eff: Effect[Any, Any, Any], on_failure: Callable[[Any], Effect[Any, Any, Any]], on_success: Callable[[Any], Any]
) -> Effect[Any, Any, Any]:
    def failed(cause: Cause[Any]) -> Effect[Any, Any, Any]:
        return on_failure(cause.error) if type(cause) is Fail else _Fail(cause)

    return _Fold(eff, failed, on_success)


@overload
def match(
    eff: Effect[A, E, R], /, *, on_failure: Callable[[E], B], on_success: Callable[[A], C]
) -> Effect[B | C, Never, R]: ...
@overload
def match(
    *, on_failure: Callable[[E], B], on_success: Callable[[A], C]
) -> Callable[[Effect[A, E, R]], Effect[B | C, Never, R]]: ...
def match(*args: Any, on_failure: Callable[[Any], Any], on_success: Callable[[Any], Any]) -> Any:
    """Fold both outcomes into a value: `on_failure(error)` or `on_success(value)`;
    defects and interruption pass."""

    def apply(eff: Effect[Any, Any, Any]) -> Effect[Any, Any, Any]:
        return _match_effect(eff, lambda e: _Succeed(on_failure(e)), lambda a: _Succeed(on_success(a)))

    return apply(args[0]) if args else apply


@overload
def match_effect(
    eff: Effect[A, E, R],
    /,
    *,
    on_failure: Callable[[E], Effect[B, E2, R2]],
    on_success: Callable[[A], Effect[C, E3, R3]],
) -> Effect[B | C, E2 | E3, R | R2 | R3]: ...
@overload
def match_effect(
    *, on_failure: Callable[[E], Effect[B, E2, R2]], on_success: Callable[[A], Effect[C, E3, R3]]
) -> Callable[[Effect[A, E, R]], Effect[B | C, E2 | E3, R | R2 | R3]]: ...
def match_effect(
    *args: Any, on_failure: Callable[[Any], Effect[Any, Any, Any]], on_success: Callable[[Any], Effect[Any, Any, Any]]
) -> Any:
    """Continue with `on_failure(error)` or `on_success(value)`; defects and
    interruption pass."""
    if args:
        return _match_effect(args[0], on_failure, on_success)
    return lambda eff: _match_effect(eff, on_failure, on_success)


def race_all(effects: Iterable[Effect[A, E, R]], /) -> Effect[A, E, R]:
    """Run the effects at once; the first to succeed wins and the others are
    interrupted (their finalizers run). If all fail: every cause, in the
    order the effects were given."""
    items = list(effects)
    if not items:
        raise ValueError("race_all needs at least one effect")
    from durable_effect.effect._runtime import run_loop

    async def run(services: Mapping[type, object]) -> Exit[Any, Any]:
        won: list[Any] = []
        causes: list[Cause[Any] | None] = [None] * len(items)

        async def child(i: int, eff: Effect[Any, Any, Any], scope: anyio.CancelScope) -> None:
            ex = await run_loop(eff, services)
            if type(ex) is Success:
                if not won:
                    won.append(ex.value)
                    scope.cancel()
            else:
                assert isinstance(ex, Failure)
                causes[i] = ex.cause

        async with anyio.create_task_group() as tg:
            for i, eff in enumerate(items):
                tg.start_soon(child, i, eff, tg.cancel_scope)
        if won:
            return Success(won[0])
        failed = [c for c in causes if c is not None]
        cause = failed[0]
        for more in failed[1:]:
            cause = Sequential(cause, more)
        return Failure(cause)

    return _Async(run)


@overload
def race(that: Effect[B, E2, R2], /) -> Callable[[Effect[A, E, R]], Effect[A | B, E | E2, R | R2]]: ...
@overload
def race(eff: Effect[A, E, R], that: Effect[B, E2, R2], /) -> Effect[A | B, E | E2, R | R2]: ...
def race(*args: Any) -> Any:
    """Run both at once; the first to succeed wins, the other is interrupted."""
    if len(args) == 2:
        return race_all(args)
    that = args[0]
    return lambda eff: race_all((eff, that))


@overload
def delay(duration: DurationInput, /) -> Callable[[Effect[A, E, R]], Effect[A, E, R]]: ...
@overload
def delay(eff: Effect[A, E, R], duration: DurationInput, /) -> Effect[A, E, R]: ...
def delay(*args: Any) -> Any:
    """Wait `duration` on the `Clock` in scope, then run the effect."""
    if len(args) == 2:
        wait = sleep(args[1])
        return _FlatMap(wait, lambda _: args[0])
    wait = sleep(args[0])
    return lambda eff: _FlatMap(wait, lambda _: eff)


@overload
def timeout_fail(
    duration: DurationInput, /, *, on_timeout: Callable[[], E2]
) -> Callable[[Effect[A, E, R]], Effect[A, E | E2, R]]: ...
@overload
def timeout_fail(
    eff: Effect[A, E, R], duration: DurationInput, /, *, on_timeout: Callable[[], E2]
) -> Effect[A, E | E2, R]: ...
def timeout_fail(*args: Any, on_timeout: Callable[[], Any]) -> Any:
    """Like `timeout`, failing with `on_timeout()` instead of `TimeoutException`."""
    fail_with: Callable[[], Exit[Any, Any]] = lambda: Failure(Fail(on_timeout()))  # noqa: E731
    if len(args) == 2:
        return _timeout(args[0], Duration.decode(args[1]).millis, fail_with)
    millis = Duration.decode(args[0]).millis
    return lambda eff: _timeout(eff, millis, fail_with)


@overload
def timeout_to(
    duration: DurationInput, /, *, on_timeout: Callable[[], B], on_success: Callable[[A], C]
) -> Callable[[Effect[A, E, R]], Effect[B | C, E, R]]: ...
@overload
def timeout_to(
    eff: Effect[A, E, R], duration: DurationInput, /, *, on_timeout: Callable[[], B], on_success: Callable[[A], C]
) -> Effect[B | C, E, R]: ...
def timeout_to(*args: Any, on_timeout: Callable[[], Any], on_success: Callable[[Any], Any]) -> Any:
    """Like `timeout`, succeeding with `on_timeout()` when time runs out and
    with `on_success(value)` otherwise."""
    value_on_timeout: Callable[[], Exit[Any, Any]] = lambda: Success(on_timeout())  # noqa: E731
    if len(args) == 2:
        return _timeout(args[0], Duration.decode(args[1]).millis, value_on_timeout, on_success)
    millis = Duration.decode(args[0]).millis
    return lambda eff: _timeout(eff, millis, value_on_timeout, on_success)


def _tap_both(
    eff: Effect[Any, Any, Any],
    on_failure: Callable[[Any], Effect[Any, Any, Any]],
    on_success: Callable[[Any], Effect[Any, Any, Any]],
) -> Effect[Any, Any, Any]:
    def failed(cause: Cause[Any]) -> Effect[Any, Any, Any]:
        if type(cause) is Fail:
            return _FlatMap(on_failure(cause.error), lambda _: _Fail(cause))
        return _Fail(cause)

    return _Fold(eff, failed, lambda a: on_success(a).as_(a))


@overload
def tap_both(
    eff: Effect[A, E, R],
    /,
    *,
    on_failure: Callable[[E], Effect[object, E2, R2]],
    on_success: Callable[[A], Effect[object, E3, R3]],
) -> Effect[A, E | E2 | E3, R | R2 | R3]: ...
@overload
def tap_both(
    *, on_failure: Callable[[E], Effect[object, E2, R2]], on_success: Callable[[A], Effect[object, E3, R3]]
) -> Callable[[Effect[A, E, R]], Effect[A, E | E2 | E3, R | R2 | R3]]: ...
def tap_both(
    *args: Any, on_failure: Callable[[Any], Effect[Any, Any, Any]], on_success: Callable[[Any], Effect[Any, Any, Any]]
) -> Any:
    """Run `on_failure(error)` or `on_success(value)` for its effects; the
    outcome stays."""
    if args:
        return _tap_both(args[0], on_failure, on_success)
    return lambda eff: _tap_both(eff, on_failure, on_success)


def _filter_or_fail(
    eff: Effect[Any, Any, Any], predicate: Callable[[Any], bool], or_fail_with: Callable[[Any], Any]
) -> Effect[Any, Any, Any]:
    return _FlatMap(eff, lambda a: _Succeed(a) if predicate(a) else _Fail(Fail(or_fail_with(a))))


@overload
def filter_or_fail(
    predicate: Callable[[A], bool], or_fail_with: Callable[[A], E2], /
) -> Callable[[Effect[A, E, R]], Effect[A, E | E2, R]]: ...
@overload
def filter_or_fail(
    eff: Effect[A, E, R], predicate: Callable[[A], bool], or_fail_with: Callable[[A], E2], /
) -> Effect[A, E | E2, R]: ...
def filter_or_fail(*args: Any) -> Any:
    """Keep the value if `predicate` holds, else fail with `or_fail_with(value)`."""
    if isinstance(args[0], Effect):
        return _filter_or_fail(args[0], args[1], args[2])
    predicate, or_fail_with = args
    return lambda eff: _filter_or_fail(eff, predicate, or_fail_with)


@overload
def zip_with(
    that: Effect[B, E2, R2], f: Callable[[A, B], C], /
) -> Callable[[Effect[A, E, R]], Effect[C, E | E2, R | R2]]: ...
@overload
def zip_with(eff: Effect[A, E, R], that: Effect[B, E2, R2], f: Callable[[A, B], C], /) -> Effect[C, E | E2, R | R2]: ...
def zip_with(*args: Any) -> Any:
    """Run both in order; combine their values with `f`."""
    if len(args) == 3:
        first, that, f = args
        return _FlatMap(first, lambda a: _Map(that, lambda b: f(a, b)))
    that, f = args
    return lambda eff: _FlatMap(eff, lambda a: _Map(that, lambda b: f(a, b)))


def flatten(eff: Effect[Effect[A, E2, R2], E, R], /) -> Effect[A, E | E2, R | R2]:
    """Run the effect, then the effect it gives (pipeable as is)."""
    return _FlatMap(eff, _identity)


def _identity(x: Any) -> Any:
    return x


def as_void(eff: Effect[A, E, R], /) -> Effect[None, E, R]:
    """Drop the success value (pipeable as is)."""
    return _Map(eff, _to_none)


def _to_none(_: object) -> None:
    return None
