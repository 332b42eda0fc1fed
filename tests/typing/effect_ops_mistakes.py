"""Planted mistakes around retry/Schedule, scoped resources and Config.

Checked by `test_effect_ops_types.py`: every line ending in `# E: <code>`
must get an error with that code, and no other line may get an error.
"""

from __future__ import annotations

from typing import Never

from durable_effect.effect import (
    Config,
    ConfigError,
    Effect,
    EffectGen,
    Layer,
    Schedule,
    Scope,
    Service,
    TaggedError,
    acquire_release,
    fail,
    gen,
    provide,
    retry,
    run_sync,
    scoped,
    succeed,
    sync,
)


class NotFound(TaggedError):
    room: str


class Unavailable(TaggedError):
    retry_after_ms: float


class Pool(Service):
    pass


class Settings(Service):
    pass


def flaky() -> Effect[int, NotFound | Unavailable]:
    return fail(Unavailable(100.0))


# -- a retry's E stays exact ------------------------------------------------------------

narrowed: Effect[int, NotFound] = flaky().retry(Schedule.recurs(3))  # E: assignment
narrowed_pipe: Effect[int, NotFound] = flaky().pipe(retry(times=3))  # E: arg-type
narrowed_fn: Effect[int, Never] = retry(flaky(), Schedule.spaced("1 second"))  # E: arg-type
kept: Effect[int, NotFound | Unavailable] = flaky().retry(Schedule.exponential("10 millis"), times=5)
wrong_field = flaky().retry(while_=lambda e: e.room == "lobby")  # E: union-attr


def only_not_found(error: NotFound) -> bool:
    return error.room == "lobby"


# A schedule that reads only NotFound cannot drive the retry of an effect that may fail with Unavailable.
narrow_policy = Schedule.recurs(3).intersect(Schedule.spaced(1).while_input(only_not_found))
flaky().retry(narrow_policy)  # E: arg-type


def fallback(error: NotFound | Unavailable, retries: int) -> Effect[int, NotFound]:
    return fail(NotFound("lobby"))


recovered: Effect[int] = flaky().retry_or_else(Schedule.recurs(2), fallback)  # E: arg-type


def positive(n: int) -> bool:
    return n > 0


counted = succeed("text").repeat(Schedule.spaced(1).while_input(positive))  # E: arg-type


# -- Layer.scoped removes exactly what it provides --------------------------------------------


def open_pool() -> Effect[Pool, Never, Settings | Scope]:
    return acquire_release(succeed(Pool()), lambda pool, exit: sync(lambda: None)).flat_map(succeed)


pool_layer = Layer.scoped(Pool, open_pool())
exact: Layer[Pool, Never, Settings] = pool_layer
too_little: Layer[Pool] = pool_layer  # E: assignment


@gen
def use_pool() -> EffectGen[str, Never, Pool]:
    yield from Pool
    return "ok"


still_needs_settings = run_sync(use_pool().pipe(provide(pool_layer)))  # E: arg-type
run_sync(acquire_release(succeed(1), lambda n, exit: sync(lambda: None)))  # E: arg-type
run_sync(scoped(acquire_release(succeed(1), lambda n, exit: sync(lambda: None))))


# -- a Config value has the declared type ----------------------------------------------------------


@gen
def settings() -> EffectGen[str, ConfigError]:
    port: str = yield from Config.int("PORT")  # E: assignment
    host = yield from Config.string("HOST")
    ratio = yield from Config.float("RATIO")
    whole: int = ratio  # E: assignment
    return host + port


no_error: Effect[int] = Config.int("PORT")  # E: assignment
maybe_port: Effect[int, ConfigError] = Config.int("PORT").optional()  # E: assignment
defaulted: Effect[int, ConfigError] = Config.int("PORT").with_default(8080)
