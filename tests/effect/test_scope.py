"""Scoped resources: `acquire_release`, `add_finalizer`, `scoped`, `Layer.scoped`."""

from __future__ import annotations

from typing import Never

import anyio
import pytest

from durable_effect.effect import (
    Die,
    Effect,
    EffectGen,
    Exit,
    Fail,
    Failure,
    Interrupt,
    Layer,
    Scope,
    Service,
    Success,
    TaggedError,
    acquire_release,
    add_finalizer,
    die,
    fail,
    gen,
    interrupt,
    never,
    promise,
    provide,
    run_promise,
    run_promise_exit,
    run_sync,
    run_sync_exit,
    scoped,
    succeed,
    sync,
)


class Refused(TaggedError):
    pass


BOOM = RuntimeError("boom")


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def resource(self, name: str) -> Effect[str, Never, Scope]:
        acquire = sync(lambda: self.lines.append(f"open {name}")).as_(name)
        return acquire_release(acquire, lambda r, ex: sync(lambda: self.lines.append(f"close {r} {_kind(ex)}")))


def _kind(ex: Exit[object, object]) -> str:
    if isinstance(ex, Success):
        return "success"
    if ex.cause.is_interrupted():
        return "interrupt"
    return "failure" if ex.cause.failures() else "defect"


def two_then(log: Log, last: Effect[int, Refused]) -> Effect[int, Refused, Scope]:
    @gen
    def body() -> EffectGen[int, Refused, Scope]:
        a = yield from log.resource("a")
        b = yield from log.resource("b")
        log.lines.append(f"use {a}{b}")
        return (yield from last)

    return body()


def test_resources_are_released_once_in_reverse_order_on_success() -> None:
    log = Log()
    eff = scoped(two_then(log, succeed(1)))
    assert log.lines == []
    assert run_sync(eff) == 1
    assert log.lines == ["open a", "open b", "use ab", "close b success", "close a success"]


def test_resources_are_released_on_a_typed_failure_and_the_failure_stays() -> None:
    log = Log()
    assert run_sync_exit(scoped(two_then(log, fail(Refused())))) == Failure(Fail(Refused()))
    assert log.lines[-2:] == ["close b failure", "close a failure"]


def test_resources_are_released_on_a_defect() -> None:
    log = Log()
    assert run_sync_exit(scoped(two_then(log, die(BOOM)))) == Failure(Die(BOOM))
    assert log.lines[-2:] == ["close b defect", "close a defect"]


def test_resources_are_released_on_an_interrupt_effect() -> None:
    log = Log()
    assert run_sync_exit(scoped(two_then(log, interrupt()))) == Failure(Interrupt())
    assert log.lines[-2:] == ["close b interrupt", "close a interrupt"]


@pytest.mark.anyio
async def test_resources_are_released_once_when_the_fiber_is_cancelled() -> None:
    log = Log()

    async def slow_open() -> str:
        await anyio.sleep(0)
        log.lines.append("open pool")
        return "pool"

    pool = acquire_release(promise(slow_open), lambda r, ex: sync(lambda: log.lines.append(f"close {r} {_kind(ex)}")))
    eff = scoped(pool.flat_map(lambda _: never))
    with anyio.move_on_after(0.01):
        await run_promise(eff)
    assert log.lines == ["open pool", "close pool interrupt"]


def test_a_failing_acquire_registers_no_release() -> None:
    log = Log()
    refused: Effect[str, Refused] = fail(Refused())
    eff = scoped(acquire_release(refused, lambda r, ex: sync(lambda: log.lines.append("close"))))
    assert run_sync_exit(eff) == Failure(Fail(Refused()))
    assert log.lines == []


def test_every_release_runs_even_if_one_dies_then_the_defect_is_reported() -> None:
    log = Log()

    @gen
    def body() -> EffectGen[str, Never, Scope]:
        yield from log.resource("a")
        yield from acquire_release(succeed("bad"), lambda r, ex: die(BOOM))
        return (yield from log.resource("c"))

    assert run_sync_exit(scoped(body())) == Failure(Die(BOOM))
    assert log.lines == ["open a", "open c", "close c success", "close a success"]


def test_add_finalizer_runs_with_the_exit() -> None:
    seen: list[str] = []
    eff = add_finalizer(lambda ex: sync(lambda: seen.append(_kind(ex)))).flat_map(lambda _: fail(Refused()))
    assert run_sync_exit(scoped(eff)) == Failure(Fail(Refused()))
    assert seen == ["failure"]


def test_a_scope_by_hand_closes_once_and_runs_late_finalizers_at_once() -> None:
    seen: list[str] = []
    scope = Scope()
    run_sync(scope.add_finalizer(lambda ex: sync(lambda: seen.append("first"))))
    run_sync(scope.close(Success(None)))
    run_sync(scope.close(Success(None)))
    assert seen == ["first"]
    run_sync(scope.add_finalizer(lambda ex: sync(lambda: seen.append("late"))))
    assert seen == ["first", "late"]


# -- Layer.scoped ----------------------------------------------------------------------------------


class Pool(Service):
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False


class Cache(Service):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool


def pool_layer(log: list[str]) -> Layer[Pool]:
    def release(pool: Pool, ex: Exit[object, object]) -> Effect[None]:
        def close() -> None:
            pool.closed = True
            log.append(f"close pool {_kind(ex)}")

        return sync(close)

    def open_pool() -> Pool:
        log.append("open pool")
        return Pool("main")

    opened = sync(open_pool)
    return Layer.scoped(Pool, acquire_release(opened, release))


def cache_layer(log: list[str]) -> Layer[Cache, Never, Pool]:
    @gen
    def make() -> EffectGen[Cache, Never, Pool | Scope]:
        pool = yield from Pool
        log.append("open cache")
        yield from add_finalizer(lambda ex: sync(lambda: log.append("close cache")))
        return Cache(pool)

    return Layer.scoped(Cache, make())


@gen
def use_pool() -> EffectGen[str, Never, Pool]:
    pool = yield from Pool
    assert not pool.closed
    return pool.name


def test_layer_scoped_releases_after_the_provided_effect_succeeds() -> None:
    log: list[str] = []
    eff = use_pool().pipe(provide(pool_layer(log)))
    assert log == []
    assert run_sync(eff) == "main"
    assert log == ["open pool", "close pool success"]
    assert run_sync(eff) == "main"  # each run builds and releases its own
    assert log == ["open pool", "close pool success"] * 2


def test_layer_scoped_releases_on_failure_and_defect() -> None:
    log: list[str] = []
    failing: Effect[str, Refused, Pool] = use_pool().flat_map(lambda _: fail(Refused()))
    dying: Effect[str, Never, Pool] = use_pool().flat_map(lambda _: die(BOOM))
    assert run_sync_exit(failing.pipe(provide(pool_layer(log)))) == Failure(Fail(Refused()))
    assert run_sync_exit(dying.pipe(provide(pool_layer(log)))) == Failure(Die(BOOM))
    assert log == ["open pool", "close pool failure", "open pool", "close pool defect"]


@pytest.mark.anyio
async def test_layer_scoped_releases_when_interrupted() -> None:
    log: list[str] = []
    eff = use_pool().flat_map(lambda _: never).pipe(provide(pool_layer(log)))
    with anyio.move_on_after(0.01):
        await run_promise(eff)
    assert log == ["open pool", "close pool interrupt"]
    assert await run_promise_exit(use_pool().pipe(provide(pool_layer(log)))) == Success("main")


def test_dependent_scoped_layers_close_in_reverse_order() -> None:
    log: list[str] = []

    @gen
    def use_both() -> EffectGen[str, Never, Pool | Cache]:
        cache = yield from Cache
        return cache.pool.name

    layer = Layer.merge(pool_layer(log), cache_layer(log).provide(pool_layer(log)))
    # `Layer.provide` keeps `Pool` in the layer's type; the outer plain layer only satisfies it.
    assert run_sync(use_both().pipe(provide(layer), provide(Layer.succeed(Pool, Pool("unused"))))) == "main"
    assert log == ["open pool", "open pool", "open cache", "close cache", "close pool success", "close pool success"]


def test_a_scoped_layer_given_as_a_dependency_marks_the_whole_layer_scoped() -> None:
    log: list[str] = []
    plain = Layer.succeed(Pool, Pool("plain"))
    layer = Layer.merge(plain, cache_layer(log).provide(plain))
    assert run_sync(use_pool().pipe(provide(layer), provide(plain))) == "plain"
    assert log == ["open cache", "close cache"]
