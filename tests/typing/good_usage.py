"""Correct user code: it must type-check under `mypy --strict` with no errors.

Checked by `test_types.py`: a `# N:` comment is the note mypy must print for
its line, word for word. The spellings here are the ones plain mypy accepts
today; `known_gaps.py` holds natural spellings it still rejects.
"""

from __future__ import annotations

from typing import reveal_type

from returns.result import Result

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
# Interfaces raise instead of being @abstractmethod: mypy rejects an abstract
# class passed as `type[S]` to `Layer.succeed` (see known_gaps.py).


class Rooms(Service):
    def members(self, room: str) -> Effect[list[str], NotFound]:
        raise NotImplementedError

    def join(self, room: str, user: str) -> Effect[None, Forbidden]:
        raise NotImplementedError


class Analytics(Service):
    def track(self, event: str) -> Effect[None]:
        raise NotImplementedError


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


reveal_type(greet)  # N: Revealed type is "def (user: str) -> durable_effect.effect._core.Effect[str, good_usage.NotFound | good_usage.Forbidden, good_usage.Rooms]"


@gen
def enter(room: str, user: str) -> EffectGen[int, NotFound | Forbidden, Rooms | Analytics]:
    rooms = yield from Rooms
    analytics = yield from Analytics
    yield from rooms.join(room, user)
    members = yield from rooms.members(room)
    greeting = yield from greet(user)
    yield from analytics.track(greeting)
    return len(members)


reveal_type(enter)  # N: Revealed type is "def (room: str, user: str) -> durable_effect.effect._core.Effect[int, good_usage.NotFound | good_usage.Forbidden, good_usage.Rooms | good_usage.Analytics]"


@gen
def count_up(n: int) -> EffectGen[int]:
    total = 0
    for i in range(n):
        total += yield from succeed(i)
    return total


reveal_type(count_up)  # N: Revealed type is "def (n: int) -> durable_effect.effect._core.Effect[int, Never, Never]"


@gen
def check_capacity(room: str) -> EffectGen[None, Unavailable]:
    if room == "full":
        yield from Unavailable(retry_after_ms=250.0)
    return None


reveal_type(check_capacity)  # N: Revealed type is "def (room: str) -> durable_effect.effect._core.Effect[None, good_usage.Unavailable, Never]"


@gen
def make_analytics() -> EffectGen[Analytics, Unavailable]:
    yield from check_capacity("analytics")
    return LiveAnalytics()


reveal_type(make_analytics)  # N: Revealed type is "def () -> durable_effect.effect._core.Effect[good_usage.Analytics, good_usage.Unavailable, Never]"


# -- layers ----------------------------------------------------------------------

rooms_layer = Layer.succeed(Rooms, LiveRooms({"lobby": ["alice"]}))
reveal_type(rooms_layer)  # N: Revealed type is "durable_effect.effect.layer.Layer[good_usage.Rooms, Never, Never]"
analytics_layer = Layer.effect(Analytics, make_analytics())
reveal_type(analytics_layer)  # N: Revealed type is "durable_effect.effect.layer.Layer[good_usage.Analytics, good_usage.Unavailable, Never]"
app_layer = Layer.merge(rooms_layer, analytics_layer)
reveal_type(app_layer)  # N: Revealed type is "durable_effect.effect.layer.Layer[good_usage.Rooms | good_usage.Analytics, good_usage.Unavailable, Never]"

# -- providing, recovering, composing ---------------------------------------------

greeting: Effect[str, NotFound | Forbidden] = greet("alice").pipe(provide(rooms_layer))
entered: Effect[int, NotFound | Forbidden | Unavailable] = enter("lobby", "bob").pipe(provide(app_layer))


def on_forbidden(err: Forbidden) -> Effect[str]:
    return succeed(f"{err.user} may not enter: {err.reason}")


def on_not_found(err: NotFound) -> Effect[str, Unavailable]:
    return fail(Unavailable(1000.0)) if err.room == "lobby" else succeed("no such room")


def on_any(err: NotFound | Forbidden) -> Effect[str]:
    return succeed(f"recovered from {err._tag}")


def describe(err: NotFound | Forbidden) -> str:
    return err._tag


recover_forbidden = catch_tag(Forbidden, on_forbidden)
recovered: Effect[str, NotFound] = greeting.pipe(recover_forbidden)
recovered_twice: Effect[str, Unavailable] = recovered.pipe(catch_tag(NotFound, on_not_found))
all_recovered: Effect[str] = greeting.pipe(catch_all(on_any))
method_recovered = greeting.catch_all(on_any)
reveal_type(method_recovered)  # N: Revealed type is "durable_effect.effect._core.Effect[str, Never, Never]"
method_catch_tag = greeting.catch_tag(Forbidden, on_forbidden)
reveal_type(method_catch_tag)  # N: Revealed type is "durable_effect.effect._core.Effect[str, good_usage.NotFound | good_usage.Forbidden, Never]"
described: Effect[str, str] = greeting.pipe(map_error(describe))

size = greeting.map(len)
reveal_type(size)  # N: Revealed type is "durable_effect.effect._core.Effect[int, good_usage.NotFound | good_usage.Forbidden, Never]"
doubled = size.flat_map(lambda n: succeed(n * 2))
reveal_type(doubled)  # N: Revealed type is "durable_effect.effect._core.Effect[int, good_usage.NotFound | good_usage.Forbidden, Never]"
guarded = size.flat_map(lambda n: check_capacity("lobby").as_(n))
reveal_type(guarded)  # N: Revealed type is "durable_effect.effect._core.Effect[int, good_usage.NotFound | good_usage.Forbidden | good_usage.Unavailable, Never]"
as_result = greeting.pipe(either)
reveal_type(as_result)  # N: Revealed type is "durable_effect.effect._core.Effect[returns.result.Result[str, good_usage.NotFound | good_usage.Forbidden], Never, Never]"
method_result = greeting.either()
reveal_type(method_result)  # N: Revealed type is "durable_effect.effect._core.Effect[returns.result.Result[str, good_usage.NotFound | good_usage.Forbidden], Never, Never]"
piped = pipe(count_up(3), either)
reveal_type(piped)  # N: Revealed type is "durable_effect.effect._core.Effect[returns.result.Result[int, Never], Never, Never]"

# -- running -----------------------------------------------------------------------

counted = run_sync(count_up(4))
reveal_type(counted)  # N: Revealed type is "int"
text = run_sync(all_recovered)
reveal_type(text)  # N: Revealed type is "str"
outcome = run_sync(as_result)
reveal_type(outcome)  # N: Revealed type is "returns.result.Result[str, good_usage.NotFound | good_usage.Forbidden]"
greeted = run_sync(greet("alice").pipe(provide(rooms_layer), catch_all(on_any)))
reveal_type(greeted)  # N: Revealed type is "str"
members_or_defect = run_sync(entered.pipe(or_die))
reveal_type(members_or_defect)  # N: Revealed type is "int"


def on_entry_failure(err: NotFound | Forbidden | Unavailable) -> Effect[int]:
    return succeed(-1)


async def main() -> int:
    members = await run_promise(enter("lobby", "carol").pipe(provide(app_layer), catch_all(on_entry_failure)))
    result: Result[str, NotFound] = await run_promise(recovered.either())
    return members + len(result.value_or(""))
