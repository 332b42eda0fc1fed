"""The interpreter: one loop, an explicit stack, no recursion on depth.

`run_loop` evaluates an effect tree. Continuations (flat_map and map nodes,
running generators, fold handlers, finalizers, service scopes) go on a list
used as a stack, so a chain of a million steps or a generator that yields a
million times needs no Python stack. The only awaits are the ones an `_Async`
node asks for, so `run_sync` can drive the same coroutine by hand and report
an effect that really needed to wait.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from types import GeneratorType
from typing import Any, Never, TypeVar

import anyio

from durable_effect.effect._core import (
    OP_ASYNC,
    OP_ENSURING,
    OP_FAIL,
    OP_FLAT_MAP,
    OP_FOLD,
    OP_GEN,
    OP_LOCALLY,
    OP_MAP,
    OP_PROVIDE,
    OP_SERVICE,
    OP_SERVICES,
    OP_SUCCEED,
    OP_SUSPEND,
    OP_SYNC,
    Effect,
    _FlatMap,
    _Locally,
)
from durable_effect.effect.cause import Cause, Die, Interrupt, Sequential
from durable_effect.effect.clock import Clock, LiveClock
from durable_effect.effect.exit import Exit, Failure, Success

A = TypeVar("A")

__all__ = [
    "AsyncEffectInSyncRun",
    "MissingServiceError",
    "run_promise",
    "run_promise_exit",
    "run_sync",
    "run_sync_exit",
]

DEFAULT_SERVICES: Mapping[type, object] = {Clock: LiveClock()}

_OP_RESTORE = -1
_OP_RESUME = -2


class MissingServiceError(Exception):
    """A service was used at run time that no layer provided (a defect)."""


class AsyncEffectInSyncRun(Exception):
    """`run_sync` met an effect that has to wait; use `run_promise`."""


class _Restore:
    """Stack frame: put the enclosing services back when a scope ends."""

    __slots__ = ("services",)
    _op = _OP_RESTORE

    def __init__(self, services: Mapping[type, object]) -> None:
        self.services = services


class _Resume:
    """Stack frame: a finalizer is running; then go on with the saved outcome."""

    __slots__ = ("cause", "value")
    _op = _OP_RESUME

    def __init__(self, value: object, cause: Cause[Any] | None) -> None:
        self.value = value
        self.cause = cause


async def run_loop(root: Effect[Any, Any, Any], services: Mapping[type, object]) -> Exit[Any, Any]:
    """Interpret `root` with `services` in scope and return its `Exit`.

    Interruption (anyio cancellation) while awaiting unwinds the stack, runs
    finalizers shielded from the cancellation, then re-raises it.
    """
    stack: list[Any] = []
    cur: Any = root
    value: Any = None
    cause: Cause[Any] | None = None
    cancelled: BaseException | None = None
    gen_type = GeneratorType

    while True:
        try:
            if cause is None:
                while True:
                    # Evaluate `cur` down to a value, pushing continuations.
                    while cur is not None:
                        op = cur._op
                        if op == OP_SUCCEED:
                            value = cur.value
                            cur = None
                        elif op == OP_FLAT_MAP or op == OP_MAP or op == OP_FOLD or op == OP_ENSURING:
                            stack.append(cur)
                            cur = cur.first
                        elif op == OP_GEN:
                            g = cur.fn(*cur.args, **cur.kwargs)
                            stack.append(g)
                            try:
                                cur = g.send(None)
                            except StopIteration as stop:
                                stack.pop()
                                value = stop.value
                                cur = None
                        elif op == OP_SYNC:
                            value = cur.thunk()
                            cur = None
                        elif op == OP_FAIL:
                            cause = cur.cause
                            cur = None
                            break
                        elif op == OP_SERVICE:
                            try:
                                value = services[cur.tag]
                            except KeyError:
                                raise MissingServiceError(
                                    f"no implementation of {cur.tag.__name__} was provided"
                                ) from None
                            cur = None
                        elif op == OP_ASYNC:
                            ex = await cur.run(services)
                            cur = None
                            if type(ex) is Success:
                                value = ex.value
                            else:
                                cause = ex.cause
                                break
                        elif op == OP_SUSPEND:
                            cur = cur.thunk()
                        elif op == OP_LOCALLY:
                            stack.append(_Restore(services))
                            services = {**services, **cur.services}
                            cur = cur.first
                        elif op == OP_PROVIDE:
                            cur = _FlatMap(cur.layer.build({}), _scoped(cur.first))
                        elif op == OP_SERVICES:
                            value = services
                            cur = None
                        else:  # pragma: no cover - every node class has an op above
                            raise TypeError(f"not an effect: {cur!r}")
                    if cause is not None:
                        break

                    # Continue with `value`: pop frames until one yields a new effect.
                    while stack:
                        frame = stack[-1]
                        if type(frame) is gen_type:
                            try:
                                cur = frame.send(value)
                            except StopIteration as stop:
                                stack.pop()
                                value = stop.value
                                continue
                            break
                        stack.pop()
                        fop = frame._op
                        if fop == OP_FLAT_MAP:
                            cur = frame.f(value)
                            break
                        if fop == OP_MAP:
                            value = frame.f(value)
                        elif fop == OP_FOLD:
                            if frame.on_success is not None:
                                cur = frame.on_success(value)
                                break
                        elif fop == _OP_RESTORE:
                            services = frame.services
                        elif fop == OP_ENSURING:
                            stack.append(_Resume(value, None))
                            cur = frame.finalizer
                            break
                        elif fop == _OP_RESUME:
                            if frame.cause is not None:
                                cause = frame.cause
                                break
                            value = frame.value
                    else:
                        if cancelled is not None:
                            raise cancelled
                        return Success(value)
                    if cause is not None:
                        break

            # Unwind a failure: close generators, restore scopes, find a handler.
            while stack:
                frame = stack.pop()
                if type(frame) is gen_type:
                    frame.close()
                    continue
                fop = frame._op
                if fop == OP_FOLD:
                    if cancelled is None or not cause.is_interrupted():
                        cur = frame.on_failure(cause)
                        cause = None
                        break
                elif fop == _OP_RESTORE:
                    services = frame.services
                elif fop == OP_ENSURING:
                    if cancelled is not None:
                        with anyio.CancelScope(shield=True):
                            fin = await run_loop(frame.finalizer, services)
                        if type(fin) is Failure:
                            cause = Sequential(cause, fin.cause)
                    else:
                        stack.append(_Resume(None, cause))
                        cur = frame.finalizer
                        cause = None
                        break
                elif fop == _OP_RESUME:
                    if frame.cause is not None:
                        cause = Sequential(frame.cause, cause)
            else:
                if cancelled is not None:
                    raise cancelled
                return Failure(cause)
        except Exception as exc:
            cur = None
            cause = Die(exc) if cause is None else Sequential(cause, Die(exc))
        except BaseException as exc:
            if exc is cancelled:
                raise
            # asyncio.CancelledError and trio.Cancelled derive from BaseException.
            if _is_cancellation(exc):
                cancelled = exc
                cur = None
                cause = Interrupt()
            else:
                raise


def _scoped(first: Effect[Any, Any, Any]) -> Any:
    return lambda built: _Locally(first, built)


def _is_cancellation(exc: BaseException) -> bool:
    try:
        return isinstance(exc, anyio.get_cancelled_exc_class())
    except Exception:  # no async backend running (run_sync)
        return False


def _drive_sync(coro: Coroutine[Any, Any, Exit[A, Any]]) -> Exit[A, Any]:
    try:
        coro.send(None)
    except StopIteration as stop:
        result: Exit[A, Any] = stop.value
        return result
    coro.close()
    return Failure(Die(AsyncEffectInSyncRun("the effect awaited something; run it with run_promise")))


def run_sync_exit(eff: Effect[A, object, Never]) -> Exit[A, object]:
    """Run an effect that needs no services and never waits; give its `Exit`."""
    return _drive_sync(run_loop(eff, DEFAULT_SERVICES))


def run_sync(eff: Effect[A, object, Never]) -> A:
    """Run an effect synchronously and return its value.

    A typed failure is raised as the error itself (a `TaggedError` is an
    exception); a defect re-raises the original exception with its traceback.
    """
    return _unwrap(run_sync_exit(eff))


async def run_promise_exit(eff: Effect[A, object, Never]) -> Exit[A, object]:
    """Run an effect under the current anyio event loop (asyncio or trio)."""
    return await run_loop(eff, DEFAULT_SERVICES)


async def run_promise(eff: Effect[A, object, Never]) -> A:
    """Run an effect under the current event loop and return its value.

    Raises like `run_sync`. Cancelling the caller interrupts the effect: its
    finalizers run, then the cancellation propagates.
    """
    ex: Exit[A, object] = await run_loop(eff, DEFAULT_SERVICES)
    return _unwrap(ex)


def _unwrap(ex: Exit[A, object]) -> A:
    if isinstance(ex, Success):
        value: A = ex.value
        return value
    raise ex.cause.squash()
