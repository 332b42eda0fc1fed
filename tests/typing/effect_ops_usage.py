"""Good usage of retry/Schedule, resources, Config and the combinators.

Checked by `test_effect_ops_types.py`: a `# N:` comment is the note mypy must print for that line.
"""

from __future__ import annotations

from typing import Never, reveal_type

from durable_effect.effect import (
    Config,
    Effect,
    Layer,
    Random,
    Schedule,
    Scope,
    Service,
    TaggedError,
    acquire_release,
    fail,
    for_each,
    match,
    option,
    race,
    repeat,
    retry,
    retry_or_else,
    scoped,
    succeed,
    sync,
    zip_with,
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


def fallback(error: NotFound | Unavailable, retries: int) -> Effect[str]:
    return succeed("cached")


def is_transient(error: NotFound | Unavailable) -> bool:
    return isinstance(error, Unavailable)


def repeat_text(n: int, text: str) -> str:
    return text * n


def open_pool() -> Effect[Pool, Never, Settings | Scope]:
    return acquire_release(succeed(Pool()), lambda pool, exit: sync(lambda: None))


policy = Schedule.exponential("100 millis").jittered().intersect(Schedule.recurs(5)).up_to("30 seconds")
reveal_type(policy)  # N: Revealed type is "durable_effect.effect.schedule.Schedule[tuple[durable_effect.effect.duration.Duration, int], object]"
only_transient = Schedule.recurs(3).intersect(Schedule.spaced("1 second").while_input(is_transient))
reveal_type(only_transient)  # N: Revealed type is "durable_effect.effect.schedule.Schedule[tuple[int, int], effect_ops_usage.NotFound | effect_ops_usage.Unavailable]"
reveal_type(flaky().retry(only_transient))  # N: Revealed type is "durable_effect.effect._core.Effect[int, effect_ops_usage.NotFound | effect_ops_usage.Unavailable, Never]"
reveal_type(flaky().retry(policy))  # N: Revealed type is "durable_effect.effect._core.Effect[int, effect_ops_usage.NotFound | effect_ops_usage.Unavailable, Never]"
reveal_type(flaky().retry(times=3, while_=is_transient))  # N: Revealed type is "durable_effect.effect._core.Effect[int, effect_ops_usage.NotFound | effect_ops_usage.Unavailable, Never]"
reveal_type(flaky().pipe(retry(Schedule.spaced("1 second"))))  # N: Revealed type is "durable_effect.effect._core.Effect[int, effect_ops_usage.NotFound | effect_ops_usage.Unavailable, Never]"
reveal_type(retry_or_else(flaky(), Schedule.recurs(2), fallback))  # N: Revealed type is "durable_effect.effect._core.Effect[int | str, Never, Never]"
reveal_type(succeed(1).repeat(Schedule.recurs(3)))  # N: Revealed type is "durable_effect.effect._core.Effect[int, Never, Never]"
reveal_type(repeat(succeed("tick"), times=3))  # N: Revealed type is "durable_effect.effect._core.Effect[str, Never, Never]"
reveal_type(scoped(open_pool()))  # N: Revealed type is "durable_effect.effect._core.Effect[effect_ops_usage.Pool, Never, effect_ops_usage.Settings]"
reveal_type(Layer.scoped(Pool, open_pool()))  # N: Revealed type is "durable_effect.effect.layer.Layer[effect_ops_usage.Pool, Never, effect_ops_usage.Settings]"
reveal_type(Config.int("PORT").nested("SERVER").with_default(8080))  # N: Revealed type is "durable_effect.effect.config.Config[int]"
reveal_type(Config.string("HOST").optional())  # N: Revealed type is "durable_effect.effect.config.Config[str | None]"
reveal_type(Config.duration("TTL"))  # N: Revealed type is "durable_effect.effect.config.Config[durable_effect.effect.duration.Duration]"
reveal_type(Random.next_int_between(1, 7))  # N: Revealed type is "durable_effect.effect._core.Effect[int, Never, Never]"
reveal_type(option(flaky()))  # N: Revealed type is "durable_effect.effect._core.Effect[returns.maybe.Maybe[int], Never, Never]"
reveal_type(race(flaky(), succeed("x")))  # N: Revealed type is "durable_effect.effect._core.Effect[int | str, effect_ops_usage.NotFound | effect_ops_usage.Unavailable, Never]"
reveal_type(for_each([1, 2], lambda n: succeed(str(n)), concurrency=2))  # N: Revealed type is "durable_effect.effect._core.Effect[list[str], Never, Never]"
reveal_type(zip_with(flaky(), succeed("x"), repeat_text))  # N: Revealed type is "durable_effect.effect._core.Effect[str, effect_ops_usage.NotFound | effect_ops_usage.Unavailable, Never]"
reveal_type(match(flaky(), on_failure=lambda e: 0, on_success=str))  # N: Revealed type is "durable_effect.effect._core.Effect[int | str, Never, Never]"
