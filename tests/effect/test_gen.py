"""`@gen` generator functions: `yield from` as Effect-TS's `yield*`."""

from __future__ import annotations

import pytest

from durable_effect.effect import (
    Die,
    Effect,
    EffectGen,
    Fail,
    Failure,
    Layer,
    Service,
    TaggedError,
    catch_tag,
    fail,
    gen,
    provide,
    run_promise,
    run_sync,
    run_sync_exit,
    sleep,
    succeed,
    sync,
)


class NotFound(TaggedError):
    room: str


class Forbidden(TaggedError):
    user: str


class Rooms(Service):
    def members(self, room: str) -> Effect[list[str], NotFound]:
        raise NotImplementedError


class LiveRooms(Rooms):
    def __init__(self, rooms: dict[str, list[str]]) -> None:
        self.rooms = rooms

    def members(self, room: str) -> Effect[list[str], NotFound]:
        if room not in self.rooms:
            return fail(NotFound(room))
        return succeed(self.rooms[room])


rooms_layer = Layer.succeed(Rooms, LiveRooms({"lobby": ["alice", "bob"]}))


@gen
def join(room: str, user: str) -> EffectGen[str, NotFound | Forbidden, Rooms]:
    rooms = yield from Rooms
    members = yield from rooms.members(room)
    if user == "eve":
        return (yield from Forbidden(user))
    return f"{user} joins {len(members)} in {room}"


def test_a_gen_binds_each_yielded_effects_value_and_returns_the_result() -> None:
    @gen
    def total() -> EffectGen[int]:
        a = yield from succeed(1)
        b = yield from succeed(2).map(lambda n: n * 10)
        c = yield from sync(lambda: 300)
        return a + b + c

    assert run_sync(total()) == 321


def test_a_gen_gets_services_with_yield_from_the_tag() -> None:
    assert run_sync(join("lobby", "carol").pipe(provide(rooms_layer))) == "carol joins 2 in lobby"


def test_a_typed_failure_of_a_yielded_effect_fails_the_gen() -> None:
    ex = run_sync_exit(join("attic", "carol").pipe(provide(rooms_layer)))

    assert ex == Failure(Fail(NotFound("attic")))


def test_a_tagged_error_is_yieldable_and_fails_the_gen() -> None:
    after: list[str] = []

    @gen
    def guard(user: str) -> EffectGen[str, Forbidden]:
        if user == "eve":
            yield from Forbidden(user)
            after.append("resumed after a failure")
        return user

    assert run_sync_exit(join("lobby", "eve").pipe(provide(rooms_layer))) == Failure(Fail(Forbidden("eve")))
    assert run_sync_exit(guard("eve")) == Failure(Fail(Forbidden("eve")))
    assert after == []
    assert run_sync(guard("amy")) == "amy"


def test_a_gens_failure_can_be_caught_outside_it() -> None:
    def welcome_anyway(err: Forbidden) -> Effect[str]:
        return succeed(f"{err.user} may not join")

    eff = join("lobby", "eve").pipe(provide(rooms_layer), catch_tag(Forbidden, welcome_anyway))

    assert run_sync(eff) == "eve may not join"


def test_the_generator_is_closed_and_its_finally_runs_when_a_yielded_effect_fails() -> None:
    events: list[str] = []

    @gen
    def guarded() -> EffectGen[int, NotFound]:
        try:
            events.append("start")
            yield from fail(NotFound("x"))
            events.append("unreachable")
            return 1
        except NotFound:
            events.append("a typed failure is not thrown into the generator")
            return 0
        finally:
            events.append("finally")

    assert run_sync_exit(guarded()) == Failure(Fail(NotFound("x")))
    assert events == ["start", "finally"]


def test_an_exception_raised_in_the_gen_body_is_a_defect() -> None:
    bug = KeyError("missing")
    events: list[str] = []

    @gen
    def buggy() -> EffectGen[int]:
        try:
            yield from succeed(1).map(str)
            raise bug
        finally:
            events.append("finally")

    assert run_sync_exit(buggy()) == Failure(Die(bug))
    assert events == ["finally"]


def test_a_gen_is_lazy_and_runs_its_body_again_each_time() -> None:
    runs: list[int] = []

    @gen
    def counted(n: int) -> EffectGen[int]:
        runs.append(n)
        value = yield from succeed(n).map(lambda x: x * 2)
        return value

    eff = counted(21)
    assert runs == []
    assert run_sync(eff) == 42
    assert run_sync(eff) == 42
    assert runs == [21, 21]


def test_gens_compose_and_nest() -> None:
    @gen
    def inner(n: int) -> EffectGen[int]:
        doubled = yield from succeed(n * 2).map(lambda x: x)
        return doubled

    @gen
    def outer() -> EffectGen[list[int]]:
        out = []
        for i in range(3):
            out.append((yield from inner(i)))
        return out

    assert run_sync(outer()) == [0, 2, 4]


def test_gen_keeps_the_function_name() -> None:
    assert join.__name__ == "join"


class Counter:
    def __init__(self) -> None:
        self.count = 0

    @gen
    def bump(self, by: int) -> EffectGen[int]:
        step = yield from succeed(by).map(lambda n: n)
        self.count += step
        return self.count


def test_gen_works_on_methods() -> None:
    counter = Counter()
    bump = counter.bump(5)

    assert counter.count == 0
    assert run_sync(bump) == 5
    assert run_sync(counter.bump(2)) == 7
    assert counter.count == 7


@pytest.mark.anyio
async def test_a_gen_can_wait_between_steps() -> None:
    @gen
    def slow() -> EffectGen[str]:
        yield from sleep("1 millis")
        name = yield from succeed("done")
        return name

    assert await run_promise(slow()) == "done"
