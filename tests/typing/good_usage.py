"""Correct user code: must type-check under `mypy --strict` with no errors.

Checked by `test_types.py`; each `# N:` comment is the note mypy must print
for that line, word for word.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Never

from returns.result import Failure, Result, Success

from durable_effect.effect import (
    Effect,
    EffectGen,
    Layer,
    Service,
    TaggedError,
    catch_all,
    catch_tag,
    either,
    fail,
    gen,
    log,
    map_error,
    or_die,
    pipe,
    provide,
    run_promise,
    run_sync,
    succeed,
    sync,
)

# -- errors ----------------------------------------------------------------------


class NotFound(TaggedError):
    room: str


class Forbidden(TaggedError):
    user: str
    reason: str = "not a member"


class Unavailable(TaggedError, tag="RoomsUnavailable"):
    retry_after_ms: float


# -- services --------------------------------------------------------------------


class Rooms(Service):
    @abstractmethod
    def members(self, room: str) -> Effect[list[str], NotFound]: ...

    @abstractmethod
    def join(self, room: str, user: str) -> Effect[None, Forbidden]: ...


class Analytics(Service):
    @abstractmethod
    def track(self, event: str) -> Effect[None]: ...


class LiveRooms(Rooms):
    def __init__(self, rooms: dict[str, list[str]]) -> None:
        self._rooms = rooms

    def members(self, room: str) -> Effect[list[str], NotFound]:
        if room not in self._rooms:
            return fail(NotFound(room))
        return succeed(list(self._rooms[room]))

    def join(self, room: str, user: str) -> Effect[None, Forbidden]:
        if user == "eve":
            return fail(Forbidden(user, reason="banned"))
        return sync(lambda: self._rooms.setdefault(room, []).append(user))


class LiveAnalytics(Analytics):
    def __init__(self) -> None:
        self.events: list[str] = []

    def track(self, event: str) -> Effect[None]:
        return sync(lambda: self.events.append(event))


# -- programs --------------------------------------------------------------------


@gen
def greet(user: str) -> EffectGen[str, NotFound | Forbidden, Rooms]:
    rooms = yield from Rooms
    members = yield from rooms.members("lobby")
    if user not in members:
        return (yield from Forbidden(user))
    yield from log("greeting", user)
    return f"hello {user}, {len(members)} here"


reveal_type(greet)  # N: Revealed type is "def (user: builtins.str) -> durable_effect.effect._core.Effect[builtins.str, good_usage.NotFound | good_usage.Forbidden, good_usage.Rooms]"


@gen
def enter(room: str, user: str) -> EffectGen[int, NotFound | Forbidden, Rooms | Analytics]:
    rooms = yield from Rooms
    analytics = yield from Analytics
    yield from rooms.join(room, user)
    members: list[str] = yield from rooms.members(room)
    greeting: str = yield from greet(user)
    yield from analytics.track(greeting)
    return len(members)


reveal_type(enter)  # N: Revealed type is "def (room: builtins.str, user: builtins.str) -> durable_effect.effect._core.Effect[builtins.int, good_usage.NotFound | good_usage.Forbidden, good_usage.Rooms | good_usage.Analytics]"


@gen
def pure_count(n: int) -> EffectGen[int]:
    total = 0
    for i in range(n):
        total += yield from succeed(i)
    return total


reveal_type(pure_count)  # N: Revealed type is "def (n: builtins.int) -> durable_effect.effect._core.Effect[builtins.int, Never, Never]"


@gen
def check_capacity(room: str) -> EffectGen[None, Unavailable]:
    if room == "full":
        yield from Unavailable(retry_after_ms=250.0)
    return None


reveal_type(check_capacity)  # N: Revealed type is "def (room: builtins.str) -> durable_effect.effect._core.Effect[None, good_usage.Unavailable, Never]"


# -- layers ----------------------------------------------------------------------

rooms_layer: Layer[Rooms] = Layer.succeed(Rooms, LiveRooms({"lobby": ["alice"]}))


@gen
def make_analytics() -> EffectGen[Analytics, Unavailable]:
    yield from check_capacity("analytics")
    return LiveAnalytics()


analytics_layer: Layer[Analytics, Unavailable] = Layer.effect(Analytics, make_analytics())
app_layer: Layer[Rooms | Analytics, Unavailable] = Layer.merge(rooms_layer, analytics_layer)

# -- providing, recovering, running ------------------------------------------------

greeting_ready: Effect[str, NotFound | Forbidden] = greet("alice").pipe(provide(rooms_layer))
entered: Effect[int, NotFound | Forbidden | Unavailable] = enter("lobby", "bob").pipe(provide(app_layer))


def on_forbidden(err: Forbidden) -> Effect[str]:
    return succeed(f"{err.user} may not enter: {err.reason}")


def on_any(err: NotFound | Forbidden) -> Effect[str]:
    return succeed(f"recovered from {err._tag}")


recovered: Effect[str, NotFound] = greeting_ready.pipe(catch_tag(Forbidden, on_forbidden))
all_recovered: Effect[str] = greeting_ready.pipe(catch_all(on_any))
method_recovered: Effect[str] = greeting_ready.catch_all(on_any)
mapped_error: Effect[str, str] = greeting_ready.pipe(map_error(lambda e: e._tag))

size: Effect[int, NotFound | Forbidden] = greeting_ready.map(len)
doubled: Effect[int, NotFound | Forbidden] = size.flat_map(lambda n: succeed(n * 2))
guarded: Effect[int, NotFound | Forbidden | Unavailable] = size.flat_map(
    lambda n: check_capacity("lobby").as_(n)
)
as_result: Effect[Result[str, NotFound | Forbidden], Never] = greeting_ready.pipe(either)
method_result: Effect[Result[str, NotFound | Forbidden]] = greeting_ready.either()
piped: Effect[Result[int, Never]] = pipe(pure_count(3), either)

count: int = run_sync(pure_count(4))
text: str = run_sync(all_recovered)
outcome: Result[str, NotFound | Forbidden] = run_sync(as_result)
match outcome:
    case Success(value):
        reveal_type(value)  # N: Revealed type is "builtins.str"
    case Failure(err):
        reveal_type(err)  # N: Revealed type is "good_usage.NotFound | good_usage.Forbidden"
safe: int = run_sync(entered.pipe(or_die, catch_all(lambda _: succeed(0))))


async def main() -> int:
    members = await run_promise(enter("lobby", "carol").pipe(provide(app_layer), catch_all(lambda _: succeed(-1))))
    greeting = await run_promise(recovered.pipe(catch_tag(NotFound, lambda e: succeed(e.room))))
    return members + len(greeting)
