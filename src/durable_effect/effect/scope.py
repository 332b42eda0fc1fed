"""Scoped resources: `Scope`, `acquire_release`, `add_finalizer`, `scoped`.

A `Scope` collects finalizers; closing it runs them, the last added first,
each exactly once. `acquire_release(acquire, release)` acquires a resource and
registers its release in the `Scope` in scope, so its type needs `Scope`;
`scoped(eff)` gives `eff` a fresh scope and closes it when `eff` ends, on
success, failure, defect or interruption, and removes `Scope` from `R`.
`Layer.scoped` builds a service the same way: its scope closes when the
effect it is provided to ends.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any, Never, TypeAlias, TypeVar, overload

from durable_effect.effect._core import (
    SERVICES,
    Effect,
    _Ensuring,
    _Fail,
    _FlatMap,
    _Fold,
    _Gen,
    _Locally,
    _Succeed,
    _Suspend,
)
from durable_effect.effect.cause import Cause, Interrupt, Sequential
from durable_effect.effect.exit import Exit, Failure, Success
from durable_effect.effect.layer import Service

A = TypeVar("A")
E = TypeVar("E")
R = TypeVar("R")
R2 = TypeVar("R2")

__all__ = ["Scope", "acquire_release", "add_finalizer", "scoped"]

AnyExit: TypeAlias = Exit[object, object]
Finalizer: TypeAlias = Callable[[AnyExit], Effect[object, Never, Any]]


class Scope(Service):
    """Finalizers to run when a region ends (a service: `scope = yield from Scope`).

    `scoped(eff)` and `Layer.scoped` make and close scopes; code rarely needs
    one by hand. A scope is closed once; a finalizer added after that runs at once.
    """

    __slots__ = ("_exit", "_finalizers")

    def __init__(self) -> None:
        self._finalizers: list[Finalizer] = []
        self._exit: Exit[object, object] | None = None

    def add_finalizer(self, finalizer: Callable[[AnyExit], Effect[object, Never, R]]) -> Effect[None, Never, R]:
        """Register `finalizer(exit)` to run when the scope closes."""

        def add() -> Effect[None, Never, R]:
            if self._exit is not None:
                return finalizer(self._exit).as_(None)
            self._finalizers.append(finalizer)
            return _Succeed(None)

        return _Suspend(add)

    def close(self, exit: Exit[object, object]) -> Effect[None]:
        """Run the finalizers, last added first, each once, with `exit`; then
        fail with their failures, if any (after all of them ran)."""

        def run() -> Effect[None]:
            if self._exit is not None:
                return _Succeed(None)
            self._exit = exit
            finalizers = self._finalizers[::-1]
            self._finalizers.clear()
            return _Gen(_run_all, (finalizers, exit), {})

        return _Suspend(run)


def _run_all(
    finalizers: list[Finalizer], exit: Exit[object, object]
) -> Generator[Effect[Any, Any, Any], Any, None]:
    failed: Cause[Any] | None = None
    for finalizer in finalizers:
        ex = yield finalizer(exit).exit()
        if type(ex) is Failure:
            failed = ex.cause if failed is None else Sequential(failed, ex.cause)
    if failed is not None:
        yield _Fail(failed)


def _current_scope(services: Mapping[type, object]) -> Scope:
    scope = services.get(Scope)
    if not isinstance(scope, Scope):
        from durable_effect.effect._runtime import MissingServiceError

        raise MissingServiceError("no Scope was provided: wrap the effect in scoped(...)")
    return scope


def add_finalizer(finalizer: Callable[[AnyExit], Effect[object, Never, R]]) -> Effect[None, Never, R | Scope]:
    """Run `finalizer(exit)` when the `Scope` in scope closes."""
    return _FlatMap(SERVICES, lambda services: _current_scope(services).add_finalizer(finalizer))


def acquire_release(
    acquire: Effect[A, E, R], release: Callable[[A, Exit[object, object]], Effect[object, Never, R2]]
) -> Effect[A, E, R | R2 | Scope]:
    """Acquire a resource; `release(resource, exit)` runs exactly once when the
    `Scope` closes (with the services in scope at acquisition), after the
    releases of resources acquired later."""

    def register(services: Mapping[type, object]) -> Effect[A, E, R]:
        scope = _current_scope(services)

        def remember(resource: A) -> Effect[A]:
            def fin(exit: Exit[object, object]) -> Effect[object, Never, Any]:
                return _Locally(_Suspend(lambda: release(resource, exit)), services)

            if scope._exit is not None:  # closed already: release at once
                return _FlatMap(fin(scope._exit), lambda _: _Succeed(resource))
            scope._finalizers.append(fin)
            return _Succeed(resource)

        return _FlatMap(acquire, remember)

    return _FlatMap(SERVICES, register)


@overload
def scoped(eff: Effect[A, E, Scope]) -> Effect[A, E]: ...
@overload
def scoped(eff: Effect[A, E, R | Scope]) -> Effect[A, E, R]: ...
def scoped(eff: Effect[A, E, Any]) -> Effect[A, E, Any]:
    """Run `eff` with a new `Scope`, closed when `eff` ends (success, failure,
    defect or interruption): every finalizer runs, last added first."""

    def run() -> Effect[A, E, Any]:
        scope = Scope()
        outcome: list[Exit[object, object]] = [Failure(Interrupt())]

        def failed(cause: Cause[Any]) -> Effect[Any, Any, Any]:
            outcome[0] = Failure(cause)
            return _Fail(cause)

        def succeeded(value: Any) -> Effect[Any, Any, Any]:
            outcome[0] = Success(value)
            return _Succeed(value)

        body: Effect[A, E, Any] = _Fold(_Locally(eff, {Scope: scope}), failed, succeeded)
        return _Ensuring(body, _Suspend(lambda: scope.close(outcome[0])))

    return _Suspend(run)
