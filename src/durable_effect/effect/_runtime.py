"""The interpreter: one loop, an explicit stack, no recursion on depth.

`run_loop` evaluates an effect tree. Continuations (flat_map and map nodes,
running generators, fold handlers, finalizers, service scopes) go on a list
used as a stack, so a chain of a million steps or a generator that yields a
million times needs no Python stack. A run of left-nested flat_maps takes one
frame: the list of its continuations, read back in order. The only awaits are
the ones an `_Async` node asks for, so `run_sync` drives the same coroutine by
hand, with every `_Async` node turned into the defect `AsyncEffectInSyncRun`.
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
    OP_FOLD,
    OP_LOCALLY,
    OP_PROVIDE,
    OP_SERVICE,
    OP_SERVICES,
    OP_SUSPEND,
    OP_SYNC,
    Effect,
    _FlatMap,
    _Gen,
    _Locally,
    _Map,
    _Succeed,
)
from durable_effect.effect.cause import Cause, Die, Interrupt, Sequential
from durable_effect.effect.clock import Clock, LiveClock
from durable_effect.effect.exit import Exit, Failure, Success
from durable_effect.effect.scope import scoped

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


# Stack frame: the rest of a run of left-nested flat_map continuations.
_RunIterator: type = type(reversed([]))


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


async def run_loop(
    root: Effect[Any, Any, Any],
    services: Mapping[type, object],
    sync_only: bool = False,
    unwrap: bool = False,
) -> Any:  # Any: an `Exit`, or with `unwrap` the success value itself
    """Interpret `root` with `services` in scope and return its `Exit`.

    Interruption (anyio cancellation) while awaiting unwinds the stack, runs
    finalizers shielded from the cancellation, then re-raises it. With
    `sync_only` (for `run_sync`) an async node is the defect
    `AsyncEffectInSyncRun` instead of an await, so the loop never suspends.
    """
    cur: Any = root
    value: Any = None
    cause: Cause[Any] | None = None
    cancelled: BaseException | None = None
    stack: list[Any]
    if type(root) is _Gen:
        # A handler: start its generator before setting up the loop. If it
        # returns at once, as most do, that is the whole run.
        kwargs = root.kwargs
        try:
            g = root.fn(*root.args, **kwargs) if kwargs else root.fn(*root.args)
            cur = g.send(None)
        except StopIteration as stop:
            return stop.value if unwrap else Success(stop.value)
        except Exception as exc:
            stack, cur, cause = [], None, Die(exc)
        except BaseException as exc:
            # As in the loop below: a cancellation is an interruption; anything else propagates.
            if not _is_cancellation(exc):
                raise
            stack, cur, cause, cancelled = [], None, Interrupt(), exc
        else:
            stack = [g]
    else:
        stack = []
    push = stack.append
    pop = stack.pop
    # Locals: the hot loop compares types by identity instead of reading `_op`.
    gen_type = GeneratorType
    succeed_type = _Succeed
    flat_map_type = _FlatMap
    map_type = _Map
    gen_node_type = _Gen
    run_type = _RunIterator

    while True:
        try:
            if cause is None:
                while True:
                    # Evaluate `cur` down to a value, pushing continuations.
                    while cur is not None:
                        ctype = type(cur)
                        if ctype is flat_map_type:
                            nxt = cur.first
                            if type(nxt) is flat_map_type:
                                # A left-nested run: collect its continuations on one
                                # frame, innermost last, and read them back in order.
                                run = [cur.f]
                                add = run.append
                                while True:
                                    add(nxt.f)
                                    nxt = nxt.first
                                    if type(nxt) is not flat_map_type:
                                        break
                                push(reversed(run))
                            else:
                                push(cur)
                            cur = nxt
                            continue
                        if ctype is map_type:
                            push(cur)
                            cur = cur.first
                            continue
                        if ctype is succeed_type:
                            value = cur.value
                            cur = None
                            continue
                        if ctype is gen_node_type:
                            kwargs = cur.kwargs
                            g = cur.fn(*cur.args, **kwargs) if kwargs else cur.fn(*cur.args)
                            try:
                                cur = g.send(None)
                            except StopIteration as stop:
                                value = stop.value
                                cur = None
                            else:
                                push(g)
                            continue
                        op = cur._op
                        if op == OP_FOLD or op == OP_ENSURING:
                            push(cur)
                            cur = cur.first
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
                            if sync_only:
                                raise AsyncEffectInSyncRun(
                                    "the effect has to wait (promise, sleep, timeout, ...); run it with run_promise"
                                )
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
                            push(_Restore(services))
                            services = {**services, **cur.services}
                            cur = cur.first
                        elif op == OP_PROVIDE:
                            layer = cur.layer
                            cur = _FlatMap(layer.build({}), _scoped(cur.first))
                            if layer._scoped:
                                cur = scoped(cur)
                        elif op == OP_SERVICES:
                            value = services
                            cur = None
                        else:  # pragma: no cover - every node class has an op above
                            raise TypeError(f"not an effect: {cur!r}")
                    if cause is not None:
                        break

                    # Continue with `value`: pop frames until one yields a new effect.
                    while stack:
                        frame = pop()
                        ftype = type(frame)
                        if ftype is flat_map_type:
                            cur = frame.f(value)
                            if type(cur) is succeed_type:
                                # Already a value: stay in this loop, skip the evaluation pass.
                                value = cur.value
                                continue
                            break
                        if ftype is gen_type:
                            try:
                                cur = frame.send(value)
                            except StopIteration as stop:
                                value = stop.value
                                continue
                            push(frame)
                            break
                        if ftype is run_type:
                            for f in frame:
                                cur = f(value)
                                if type(cur) is not succeed_type:
                                    push(frame)  # the rest of the run, after `cur`
                                    break
                                value = cur.value
                            else:
                                continue
                            break
                        if ftype is map_type:
                            value = frame.f(value)
                            continue
                        fop = frame._op
                        if fop == OP_FOLD:
                            if frame.on_success is not None:
                                cur = frame.on_success(value)
                                break
                        elif fop == _OP_RESTORE:
                            services = frame.services
                        elif fop == OP_ENSURING:
                            push(_Resume(value, None))
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
                        return value if unwrap else Success(value)
                    if cause is not None:
                        break

            # Unwind a failure: close generators, restore scopes, find a handler.
            while stack:
                frame = pop()
                ftype = type(frame)
                if ftype is gen_type:
                    frame.close()
                    continue
                if ftype is run_type:
                    continue
                fop = frame._op
                if fop == OP_FOLD:
                    if cancelled is None or not cause.is_interrupted():
                        # The handler owns the cause now: if it raises, that alone is the defect.
                        handled, cause = cause, None
                        cur = frame.on_failure(handled)
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
                        push(_Resume(None, cause))
                        cur = frame.finalizer
                        cause = None
                        break
                elif fop == _OP_RESUME:
                    if frame.cause is not None:
                        cause = Sequential(frame.cause, cause)
            else:
                if cancelled is not None:
                    raise cancelled
                if not unwrap:
                    return Failure(cause)
                break  # leaves `while True`: raised below, outside the handlers
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
    assert cause is not None
    raise cause.squash()


def _scoped(first: Effect[Any, Any, Any]) -> Any:
    return lambda built: _Locally(first, built)


def _is_cancellation(exc: BaseException) -> bool:
    try:
        return isinstance(exc, anyio.get_cancelled_exc_class())
    except Exception:  # no async backend running (run_sync)
        return False


def _drive_sync(coro: Coroutine[Any, Any, A]) -> A:
    try:
        coro.send(None)
    except StopIteration as stop:
        result: A = stop.value
        return result
    coro.close()
    raise AssertionError("run_loop(sync_only=True) never suspends")  # pragma: no cover


def run_sync_exit(eff: Effect[A, object, Never]) -> Exit[A, object]:
    """Run an effect that needs no services and never waits; give its `Exit`.

    An effect that has to wait (`promise`, `sleep`, `timeout`, concurrent
    `all`, ...) fails with the defect `AsyncEffectInSyncRun`; its finalizers
    still run (and fail the same way if they wait too).
    """
    result: Exit[A, object] = _drive_sync(run_loop(eff, DEFAULT_SERVICES, sync_only=True))
    return result


def run_sync(eff: Effect[A, object, Never]) -> A:
    """Run an effect synchronously and return its value.

    A typed failure is raised as the error itself (a `TaggedError` is an
    exception); a defect re-raises the original exception with its traceback.
    """
    value: A = _drive_sync(run_loop(eff, DEFAULT_SERVICES, True, True))
    return value


async def run_promise_exit(eff: Effect[A, object, Never]) -> Exit[A, object]:
    """Run an effect under the current anyio event loop (asyncio or trio)."""
    result: Exit[A, object] = await run_loop(eff, DEFAULT_SERVICES)
    return result


def run_promise(eff: Effect[A, object, Never]) -> Coroutine[object, object, A]:
    """Run an effect under the current event loop: `value = await run_promise(eff)`.

    Raises like `run_sync`. Cancelling the caller interrupts the effect: its
    finalizers run, then the cancellation propagates. (The interpreter's own
    coroutine is returned, so awaiting it costs no extra frame.)
    """
    coro: Coroutine[object, object, A] = run_loop(eff, DEFAULT_SERVICES, False, True)
    return coro
