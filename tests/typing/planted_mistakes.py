"""User code with planted mistakes: mypy --strict must flag each one.

Checked by `test_types.py`: every line ending in `# E: <code>` must get an
error with that code, and no other line may get an error.
"""

from __future__ import annotations

from typing import Never

from returns.result import Result

from durable_effect.effect import (
    Effect,
    EffectGen,
    Layer,
    Service,
    TaggedError,
    catch_all,
    either,
    fail,
    gen,
    or_die,
    pipe,
    provide,
    run_promise,
    run_sync,
    succeed,
)


class NotFound(TaggedError):
    room: str


class Forbidden(TaggedError):
    user: str


class Unavailable(TaggedError):
    retry_after_ms: float


class Rooms(Service):
    def members(self, room: str) -> Effect[list[str], NotFound]:
        raise NotImplementedError


class Analytics(Service):
    def track(self, event: str) -> Effect[None]:
        raise NotImplementedError


class LiveRooms(Rooms):
    def members(self, room: str) -> Effect[list[str], NotFound]:
        return succeed(["alice"]) if room == "lobby" else fail(NotFound(room))


class NotAnAnalytics:
    def track(self, event: str) -> Effect[None]:
        return succeed(None)


rooms_layer = Layer.succeed(Rooms, LiveRooms())


@gen
def greet(user: str) -> EffectGen[str, NotFound | Forbidden, Rooms]:
    rooms = yield from Rooms
    members = yield from rooms.members("lobby")
    if user not in members:
        return (yield from Forbidden(user))
    return f"hello {user}"


# -- inside generators -------------------------------------------------------------


@gen
def uses_value_wrongly(user: str) -> EffectGen[int, NotFound | Forbidden, Rooms]:
    greeting = yield from greet(user)
    louder = greeting + 1  # E: operator
    return len(greeting)


@gen
def binds_wrong_type(user: str) -> EffectGen[int, NotFound | Forbidden, Rooms]:
    size: int = yield from greet(user)  # E: assignment
    return size


@gen
def returns_wrong_type(room: str) -> EffectGen[int, NotFound, Rooms]:
    rooms = yield from Rooms
    members = yield from rooms.members(room)
    return members  # E: return-value


@gen
def forgets_yield_from(room: str) -> EffectGen[int, NotFound, Rooms]:
    rooms = yield from Rooms
    members = rooms.members(room)
    return len(members)  # E: arg-type


@gen
def undeclared_error(room: str) -> EffectGen[str, NotFound, Rooms]:
    yield from greet(room)  # E: misc
    return room


@gen
def undeclared_failure(room: str) -> EffectGen[str, NotFound]:
    if room == "full":
        return (yield from Unavailable(retry_after_ms=100.0))  # E: misc
    return room


@gen
def undeclared_service(event: str) -> EffectGen[None, Never, Rooms]:
    analytics = yield from Analytics  # E: misc
    yield from analytics.track(event)


@gen
def missing_method(room: str) -> EffectGen[None, NotFound, Rooms]:
    rooms = yield from Rooms
    yield from rooms.leave(room)  # E: attr-defined


# -- errors, layers, running -----------------------------------------------------------

wrong_field = NotFound(room=404)  # E: arg-type
missing_field = Forbidden()  # E: call-arg
not_a_service_layer = Layer.succeed(Analytics, NotAnAnalytics())  # E: type-var


def on_forbidden(err: Forbidden) -> Effect[str]:
    return succeed(f"{err.room} is forbidden")  # E: attr-defined


def on_not_found(err: NotFound) -> Effect[str]:
    return succeed(err.room)


def needs_nothing(user: str) -> Effect[str, NotFound | Forbidden]:
    return greet(user)  # E: return-value


provided: Effect[str, NotFound | Forbidden] = greet("alice").pipe(provide(rooms_layer))
narrow_handler = provided.catch_all(on_not_found)  # E: arg-type
wrong_handler = provided.catch_tag(NotFound, on_forbidden)  # E: arg-type
lambda_handler = provided.catch_tag(Forbidden, lambda err: succeed(err.room))  # E: attr-defined
still_needs_rooms = run_sync(greet("alice"))  # E: arg-type
not_an_effect: Effect[Result[str, Never]] = pipe("hello", either)  # E: arg-type
wrong_value: str = run_sync(provided.map(len).pipe(or_die))  # E: assignment


@gen
def enter(user: str) -> EffectGen[int, NotFound | Forbidden, Rooms | Analytics]:
    analytics = yield from Analytics
    greeting = yield from greet(user)
    yield from analytics.track(greeting)
    return len(greeting)


provide_rooms = provide(rooms_layer)
analytics_missing = run_sync(enter("bob").pipe(provide_rooms))  # E: arg-type


async def forgets_await() -> int:
    recovered = provided.pipe(catch_all(lambda _: succeed("anonymous")))
    count: int = run_promise(recovered.map(len))  # E: assignment
    return count
