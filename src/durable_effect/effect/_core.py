"""The `Effect` data type and its primitive nodes.

An `Effect[A, E, R]` is a lazy description of a program that succeeds with an
`A`, fails with a typed error `E`, and needs the services `R`. Building one
runs nothing; the runtime (`durable_effect.effect._runtime`) interprets the
tree of nodes defined here with an explicit stack, so depth never touches the
Python call stack.

Each node class carries an integer `_op` the interpreter dispatches on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Never, Self, overload

from typing_extensions import TypeVar, dataclass_transform

from durable_effect.effect.cause import Cause, Die, Fail

if TYPE_CHECKING:
    from durable_effect.effect.exit import Exit
    from durable_effect.effect.layer import Layer
    from durable_effect.effect.schedule import Schedule

A = TypeVar("A", covariant=True)
E = TypeVar("E", covariant=True, default=Never)
R = TypeVar("R", covariant=True, default=Never)

A1 = TypeVar("A1")
A2 = TypeVar("A2")
E2 = TypeVar("E2")
R2 = TypeVar("R2")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
F = TypeVar("F")
G = TypeVar("G")
H = TypeVar("H")
I_ = TypeVar("I_")
J = TypeVar("J")
X = TypeVar("X")
Ex = TypeVar("Ex", bound=BaseException)

_new = object.__new__  # builds a node without calling its `__init__`

# Operation codes, one per primitive node.
OP_SUCCEED = 0
OP_FLAT_MAP = 1
OP_MAP = 2
OP_GEN = 3
OP_SYNC = 4
OP_FAIL = 5
OP_FOLD = 6
OP_ASYNC = 7
OP_SERVICE = 8
OP_LOCALLY = 9
OP_ENSURING = 10
OP_SUSPEND = 11
OP_SERVICES = 12
OP_PROVIDE = 13


class Effect(Generic[A, E, R]):
    """A lazy, typed description of a computation.

    `A` is the success type, `E` the typed error (default `Never`), `R` the
    services it needs (default `Never`). Nothing runs until a runtime
    (`run_sync`, `run_promise`) interprets it. Inside a `@gen` function,
    `x = yield from eff` runs `eff` and binds its success value.
    """

    __slots__ = ()
    _op: ClassVar[int]

    if TYPE_CHECKING:

        def __iter__(self) -> Generator[Effect[object, E, R], object, A]: ...

    else:

        def __iter__(self):
            return (yield self)

    # -- composition -------------------------------------------------------

    def map(self, f: Callable[[A], B]) -> Effect[B, E, R]:
        """Transform the success value with a plain function."""
        node: _Map[B, E, R] = _new(_Map)  # no `__init__` call: see `succeed`
        node.first = self
        node.f = f
        return node

    def flat_map(self, f: Callable[[A], Effect[B, E2, R2]]) -> Effect[B, E | E2, R | R2]:
        """Run `f(value)` after this effect succeeds."""
        node: _FlatMap[B, E | E2, R | R2] = _new(_FlatMap)  # no `__init__` call: see `succeed`
        node.first = self
        node.f = f
        return node

    def tap(self, f: Callable[[A], Effect[object, E2, R2]]) -> Effect[A, E | E2, R | R2]:
        """Run `f(value)` for its effects, keep this effect's value."""
        return _FlatMap(self, lambda a: _Map(f(a), lambda _: a))

    def as_(self, value: B) -> Effect[B, E, R]:
        """Replace the success value."""
        return _Map(self, lambda _: value)

    def zip(self, that: Effect[B, E2, R2]) -> Effect[tuple[A, B], E | E2, R | R2]:
        """Run this, then `that`; succeed with both values."""
        return _FlatMap(self, lambda a: _Map(that, lambda b: (a, b)))

    # -- errors -------------------------------------------------------------

    def catch_tag(self, cls: type[X], f: Callable[[X], Effect[A2, E2, R2]]) -> Effect[A | A2, E | E2, R | R2]:
        """Recover from failures that are instances of `cls`.

        Without the mypy plugin the result keeps `E` whole; with
        `durable_effect.mypy` enabled, `cls` is removed from `E` exactly.
        """
        return _catch_tag(self, cls, f)

    def catch_all(self, f: Callable[[E], Effect[A2, E2, R2]]) -> Effect[A | A2, E2, R | R2]:
        """Recover from every typed failure (defects and interruption pass)."""
        return _catch_all(self, f)

    def catch_all_defect(self, f: Callable[[BaseException], Effect[A2, E2, R2]]) -> Effect[A | A2, E | E2, R | R2]:
        """Recover from a defect (an undeclared exception)."""
        return _catch_all_defect(self, f)

    def map_error(self, f: Callable[[E], E2]) -> Effect[A, E2, R]:
        """Transform the typed error."""
        return _map_error(self, f)

    def tap_error(self, f: Callable[[E], Effect[object, E2, R2]]) -> Effect[A, E | E2, R | R2]:
        """Run `f(error)` for its effects on failure; the failure stays."""
        return _tap_error(self, f)

    def or_die(self) -> Effect[A, Never, R]:
        """Turn typed failures into defects."""
        return _or_die(self)

    def either(self) -> Effect[Result[A, E], Never, R]:
        """Succeed with `returns.result.Success(a)` or `Failure(e)`."""
        return _either(self)

    def exit(self) -> Effect[Exit[A, E], Never, R]:
        """Succeed with the `Exit` (value or whole cause) of this effect."""
        return _exit(self)

    def ensuring(self, finalizer: Effect[object, Never, R2]) -> Effect[A, E, R | R2]:
        """Run `finalizer` after this effect, on success, failure or interruption."""
        return _Ensuring(self, finalizer)

    def timeout(self, duration: DurationInput) -> Effect[A, E | TimeoutException, R]:
        """Fail with `TimeoutException` if this effect takes longer than `duration`."""
        from durable_effect.effect._combinators import timeout

        return timeout(self, duration)

    def retry(
        self,
        schedule: Schedule[object, E] | None = None,
        *,
        times: int | None = None,
        while_: Callable[[E], bool] | None = None,
        until: Callable[[E], bool] | None = None,
    ) -> Effect[A, E, R]:
        """Run again after a typed failure, as `schedule` says (see `retry`)."""
        from durable_effect.effect._combinators import _policy, _retry

        return _retry(self, _policy(schedule, times, while_, until), None)

    def retry_or_else(
        self, schedule: Schedule[B, E], or_else: Callable[[E, B], Effect[A2, E2, R2]]
    ) -> Effect[A | A2, E2, R | R2]:
        """Retry as `schedule` says; when it stops, recover with `or_else(error, output)`."""
        from durable_effect.effect._combinators import _retry

        return _retry(self, schedule, or_else)

    @overload
    def repeat(self, schedule: Schedule[B, A]) -> Effect[B, E, R]: ...
    @overload
    def repeat(
        self,
        *,
        times: int | None = None,
        while_: Callable[[A], bool] | None = None,
        until: Callable[[A], bool] | None = None,
    ) -> Effect[A, E, R]: ...
    def repeat(
        self,
        schedule: Schedule[Any, Any] | None = None,
        *,
        times: int | None = None,
        while_: Callable[[Any], bool] | None = None,
        until: Callable[[Any], bool] | None = None,
    ) -> Effect[Any, E, R]:
        """Run, then again as `schedule` says, fed each value (see `repeat`)."""
        from durable_effect.effect._combinators import _policy, _repeat

        if schedule is not None:
            return _repeat(self, schedule, False)
        return _repeat(self, _policy(None, times, while_, until), True)

    def provide(self, layer: Layer[object, E2, R2]) -> Effect[A, E | E2, R | R2]:
        """Provide services from `layer`.

        Prefer the pipeable `provide(layer)`: it removes the provided services
        from `R` exactly, which a method cannot express without the plugin.
        """
        return _Provide(self, layer)

    # -- pipe ---------------------------------------------------------------

    @overload
    def pipe(self, f1: Callable[[Self], B], /) -> B: ...
    @overload
    def pipe(self, f1: Callable[[Self], B], f2: Callable[[B], C], /) -> C: ...
    @overload
    def pipe(self, f1: Callable[[Self], B], f2: Callable[[B], C], f3: Callable[[C], D], /) -> D: ...
    @overload
    def pipe(
        self,
        f1: Callable[[Self], B],
        f2: Callable[[B], C],
        f3: Callable[[C], D],
        f4: Callable[[D], F],
        /,
    ) -> F: ...
    @overload
    def pipe(
        self,
        f1: Callable[[Self], B],
        f2: Callable[[B], C],
        f3: Callable[[C], D],
        f4: Callable[[D], F],
        f5: Callable[[F], G],
        /,
    ) -> G: ...
    @overload
    def pipe(
        self,
        f1: Callable[[Self], B],
        f2: Callable[[B], C],
        f3: Callable[[C], D],
        f4: Callable[[D], F],
        f5: Callable[[F], G],
        f6: Callable[[G], H],
        /,
    ) -> H: ...
    @overload
    def pipe(
        self,
        f1: Callable[[Self], B],
        f2: Callable[[B], C],
        f3: Callable[[C], D],
        f4: Callable[[D], F],
        f5: Callable[[F], G],
        f6: Callable[[G], H],
        f7: Callable[[H], I_],
        /,
    ) -> I_: ...
    @overload
    def pipe(
        self,
        f1: Callable[[Self], B],
        f2: Callable[[B], C],
        f3: Callable[[C], D],
        f4: Callable[[D], F],
        f5: Callable[[F], G],
        f6: Callable[[G], H],
        f7: Callable[[H], I_],
        f8: Callable[[I_], J],
        /,
    ) -> J: ...
    def pipe(self, *fns: Callable[[Any], Any]) -> Any:  # Any: each step's type is checked by the overloads
        """Apply pipeable combinators left to right: `eff.pipe(f, g) == g(f(eff))`."""
        value: Any = self
        for fn in fns:
            value = fn(value)
        return value


# -- primitive nodes ----------------------------------------------------------


class _Succeed(Effect[A, Never, Never]):
    __slots__ = ("value",)
    _op = OP_SUCCEED

    def __init__(self, value: A) -> None:
        self.value = value

    if not TYPE_CHECKING:

        def __iter__(self):
            # An effect that is already a value never reaches the interpreter.
            return self.value
            yield

    def __repr__(self) -> str:
        return f"succeed({self.value!r})"


class _Fail(Effect[Never, E, Never]):
    __slots__ = ("cause",)
    _op = OP_FAIL

    def __init__(self, cause: Cause[E]) -> None:
        self.cause = cause

    def __repr__(self) -> str:
        return f"fail_cause({self.cause!r})"


class _Sync(Effect[A, Never, Never]):
    __slots__ = ("thunk",)
    _op = OP_SYNC

    def __init__(self, thunk: Callable[[], A]) -> None:
        self.thunk = thunk

    if not TYPE_CHECKING:

        def __iter__(self):
            # Run inline: an exception propagates out of the generator and the
            # interpreter records it as a defect, exactly as for a node it ran.
            return self.thunk()
            yield


class _FlatMap(Effect[A, E, R]):
    __slots__ = ("f", "first")
    _op = OP_FLAT_MAP

    def __init__(self, first: Effect[Any, Any, Any], f: Callable[[Any], Effect[Any, Any, Any]]) -> None:
        self.first = first
        self.f = f

    if not TYPE_CHECKING:

        def __iter__(self):
            # `yield from succeed(x).flat_map(f)`: apply `f` here, one level
            # only, and hand the interpreter just the effect `f` returns.
            first = self.first
            kind = type(first)
            if kind is _Succeed:
                nxt = self.f(first.value)
            elif kind is _Sync:
                nxt = self.f(first.thunk())
            else:
                return (yield self)
            if type(nxt) is _Succeed:
                return nxt.value
            return (yield nxt)


class _Map(Effect[A, E, R]):
    __slots__ = ("f", "first")
    _op = OP_MAP

    def __init__(self, first: Effect[Any, Any, Any], f: Callable[[Any], Any]) -> None:
        self.first = first
        self.f = f

    if not TYPE_CHECKING:

        def __iter__(self):
            # `yield from succeed(x).map(f)` needs no interpreter round trip.
            first = self.first
            kind = type(first)
            if kind is _Succeed:
                return self.f(first.value)
            if kind is _Sync:
                return self.f(first.thunk())
            return (yield self)


class _Gen(Effect[A, E, R]):
    __slots__ = ("args", "fn", "kwargs")
    _op = OP_GEN

    def __init__(
        self,
        fn: Callable[..., Generator[Effect[object, Any, Any], Any, Any]],
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs


class _Fold(Effect[A, E, R]):
    """Run `first`; on success call `on_success` (if any), on failure `on_failure`."""

    __slots__ = ("first", "on_failure", "on_success")
    _op = OP_FOLD

    def __init__(
        self,
        first: Effect[Any, Any, Any],
        on_failure: Callable[[Cause[Any]], Effect[Any, Any, Any]],
        on_success: Callable[[Any], Effect[Any, Any, Any]] | None,
    ) -> None:
        self.first = first
        self.on_failure = on_failure
        self.on_success = on_success


class _Async(Effect[A, E, R]):
    """Await `run(services)`, which returns an `Exit`."""

    __slots__ = ("run",)
    _op = OP_ASYNC

    def __init__(self, run: Callable[[Mapping[type, object]], Awaitable[Exit[Any, Any]]]) -> None:
        self.run = run


class _ServiceAccess(Effect[A, Never, R]):
    __slots__ = ("tag",)
    _op = OP_SERVICE

    def __init__(self, tag: type) -> None:
        self.tag = tag


class _Locally(Effect[A, E, R]):
    """Run `first` with `services` added to the current ones."""

    __slots__ = ("first", "services")
    _op = OP_LOCALLY

    def __init__(self, first: Effect[Any, Any, Any], services: Mapping[type, object]) -> None:
        self.first = first
        self.services = services


class _Provide(Effect[A, E, R]):
    __slots__ = ("first", "layer")
    _op = OP_PROVIDE

    def __init__(self, first: Effect[Any, Any, Any], layer: Layer[Any, Any, Any]) -> None:
        self.first = first
        self.layer = layer


class _Ensuring(Effect[A, E, R]):
    __slots__ = ("finalizer", "first")
    _op = OP_ENSURING

    def __init__(self, first: Effect[Any, Any, Any], finalizer: Effect[Any, Any, Any]) -> None:
        self.first = first
        self.finalizer = finalizer


class _Suspend(Effect[A, E, R]):
    __slots__ = ("thunk",)
    _op = OP_SUSPEND

    def __init__(self, thunk: Callable[[], Effect[Any, Any, Any]]) -> None:
        self.thunk = thunk

    if not TYPE_CHECKING:

        def __iter__(self):
            # Build the effect inline, as `sync` runs inline; when it is already a
            # value (the usual case for a ctx operation) the interpreter is not
            # involved at all. Anything else goes to the interpreter, one level
            # only, so a long chain of suspends still takes no Python stack.
            eff = self.thunk()
            if type(eff) is _Succeed:
                return eff.value
            return (yield eff)


class _Services(Effect[Mapping[type, object], Never, Never]):
    __slots__ = ()
    _op = OP_SERVICES


SERVICES: Effect[Mapping[type, object]] = _Services()


# -- tagged errors --------------------------------------------------------------


@dataclass_transform(eq_default=True)
class TaggedError(Exception):
    """Base of typed errors: an exception dataclass with a `_tag`.

    Subclasses are dataclasses automatically; `_tag` is the class name unless
    given (`class NotFound(TaggedError, tag="RoomNotFound")`). An instance is
    yieldable: `return (yield from NotFound(id))` fails the current `@gen`.
    """

    _tag: ClassVar[str] = "TaggedError"

    def __init_subclass__(cls, *, tag: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._tag = tag if tag is not None else cls.__name__
        dataclasses.dataclass(eq=True, repr=True)(cls)
        # Exceptions stay hashable by identity (logging and tracebacks rely on it).
        cls.__hash__ = Exception.__hash__  # type: ignore[method-assign]  # keep identity hash next to the dataclass __eq__

    def __str__(self) -> str:
        names: list[str] = [f.name for f in dataclasses.fields(self)] if dataclasses.is_dataclass(self) else []
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self._tag}({inner})"

    if TYPE_CHECKING:

        def __iter__(self) -> Generator[Effect[object, Self, Never], object, Never]: ...

    else:

        def __iter__(self):
            yield _Fail(Fail(self))
            raise AssertionError("a failed effect is never resumed")  # pragma: no cover


class TimeoutException(TaggedError):
    """An effect passed to `timeout` did not finish in time."""

    duration_ms: float


# -- constructors ----------------------------------------------------------------


if TYPE_CHECKING:

    def succeed(value: A1) -> Effect[A1]:
        """An effect that succeeds with `value`."""
        ...

else:

    def succeed(value):
        # `_Succeed(value)` would call `__init__` from C, a fresh interpreter
        # frame; this call is inlined by the interpreter and costs less.
        node = _new(_Succeed)
        node.value = value
        return node


def fail(error: E2) -> Effect[Never, E2]:
    """An effect that fails with the typed error `error`."""
    return _Fail(Fail(error))


def fail_cause(cause: Cause[E2]) -> Effect[Never, E2]:
    """An effect that fails with a whole `Cause`."""
    return _Fail(cause)


def die(defect: BaseException) -> Effect[Never]:
    """An effect that fails with a defect (not in the typed error channel)."""
    return _Fail(Die(defect))


if TYPE_CHECKING:

    def sync(thunk: Callable[[], A1]) -> Effect[A1]:
        """Run a side-effecting function. An exception it raises is a defect."""
        ...

else:

    def sync(thunk):
        # Built as in `succeed`.
        node = _new(_Sync)
        node.thunk = thunk
        return node


def suspend(thunk: Callable[[], Effect[A1, E2, R2]]) -> Effect[A1, E2, R2]:
    """Build the effect lazily, each time it runs."""
    return _Suspend(thunk)


def try_(thunk: Callable[[], A1], catch: Callable[[Exception], E2]) -> Effect[A1, E2]:
    """Run a function that may raise; `catch` maps the exception to a typed error."""

    def run() -> Effect[A1, E2]:
        try:
            return _Succeed(thunk())
        except Exception as exc:
            return _Fail(Fail(catch(exc)))

    return _Suspend(run)


def promise(fn: Callable[[], Awaitable[A1]]) -> Effect[A1]:
    """Await an async function. An exception it raises is a defect."""
    from durable_effect.effect.exit import Success

    async def run(_: Mapping[type, object]) -> Exit[A1, Never]:
        return Success(await fn())

    return _Async(run)


def try_promise(fn: Callable[[], Awaitable[A1]], catch: Callable[[Exception], E2]) -> Effect[A1, E2]:
    """Await an async function; `catch` maps an exception to a typed error."""
    from durable_effect.effect.exit import Failure, Success

    async def run(_: Mapping[type, object]) -> Exit[A1, E2]:
        try:
            return Success(await fn())
        except Exception as exc:
            return Failure(Fail(catch(exc)))

    return _Async(run)


void: Effect[None] = _Succeed(None)
"""An effect that succeeds with `None`."""


# -- error combinators (implementations shared by methods and functions) -----------


def _catch_tag(
    eff: Effect[Any, Any, Any], cls: type[Any], f: Callable[[Any], Effect[Any, Any, Any]]
) -> Effect[Any, Any, Any]:
    def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
        if isinstance(cause, Fail) and isinstance(cause.error, cls):
            return f(cause.error)
        return _Fail(cause)

    return _Fold(eff, on_failure, None)


def _catch_all(eff: Effect[Any, Any, Any], f: Callable[[Any], Effect[Any, Any, Any]]) -> Effect[Any, Any, Any]:
    def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
        if isinstance(cause, Fail):
            return f(cause.error)
        return _Fail(cause)

    return _Fold(eff, on_failure, None)


def _catch_all_defect(
    eff: Effect[Any, Any, Any], f: Callable[[BaseException], Effect[Any, Any, Any]]
) -> Effect[Any, Any, Any]:
    def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
        if isinstance(cause, Die):
            return f(cause.defect)
        return _Fail(cause)

    return _Fold(eff, on_failure, None)


def _map_error(eff: Effect[Any, Any, Any], f: Callable[[Any], Any]) -> Effect[Any, Any, Any]:
    def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
        if isinstance(cause, Fail):
            return _Fail(Fail(f(cause.error)))
        return _Fail(cause)

    return _Fold(eff, on_failure, None)


def _tap_error(eff: Effect[Any, Any, Any], f: Callable[[Any], Effect[Any, Any, Any]]) -> Effect[Any, Any, Any]:
    def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
        if isinstance(cause, Fail):
            return _FlatMap(f(cause.error), lambda _: _Fail(cause))
        return _Fail(cause)

    return _Fold(eff, on_failure, None)


def _or_die(eff: Effect[Any, Any, Any]) -> Effect[Any, Any, Any]:
    from durable_effect.effect.cause import FailureValue

    def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
        if isinstance(cause, Fail):
            err = cause.error
            return _Fail(Die(err if isinstance(err, BaseException) else FailureValue(err)))
        return _Fail(cause)

    return _Fold(eff, on_failure, None)


def _either(eff: Effect[Any, Any, Any]) -> Effect[Any, Any, Any]:
    from returns.result import Failure as RFailure
    from returns.result import Success as RSuccess

    def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
        if isinstance(cause, Fail):
            return _Succeed(RFailure(cause.error))
        return _Fail(cause)

    return _Fold(eff, on_failure, lambda a: _Succeed(RSuccess(a)))


def _exit(eff: Effect[Any, Any, Any]) -> Effect[Any, Any, Any]:
    from durable_effect.effect.exit import Failure, Success

    return _Fold(eff, lambda cause: _Succeed(Failure(cause)), lambda a: _Succeed(Success(a)))


if TYPE_CHECKING:
    from returns.result import Result

    from durable_effect.effect.duration import DurationInput
