"""The `Effect` type, its constructors, its methods, and `TaggedError`."""

from __future__ import annotations

import traceback

import pytest
from returns.result import Failure as ResultFailure
from returns.result import Success as ResultSuccess

from durable_effect.effect import (
    Cause,
    Die,
    Effect,
    Exit,
    Fail,
    Failure,
    Interrupt,
    Success,
    TaggedError,
    TimeoutException,
    die,
    fail,
    fail_cause,
    promise,
    run_promise,
    run_promise_exit,
    run_sync,
    run_sync_exit,
    succeed,
    suspend,
    sync,
    try_,
    try_promise,
    void,
)


class NotFound(TaggedError):
    id: str


class Forbidden(TaggedError, tag="AccessDenied"):
    user: str
    reason: str = "no"


class Empty(TaggedError):
    pass


# -- TaggedError -----------------------------------------------------------------


def test_a_tagged_error_is_an_exception_dataclass_tagged_with_its_class_name() -> None:
    err = NotFound("room-1")

    assert isinstance(err, Exception)
    assert err.id == "room-1"
    assert NotFound._tag == "NotFound"
    assert err == NotFound("room-1")
    assert err != NotFound("room-2")
    assert str(err) == "NotFound(id='room-1')"
    assert repr(err) == "NotFound(id='room-1')"


def test_a_tagged_error_may_choose_its_tag_and_have_defaults() -> None:
    err = Forbidden("eve")

    assert Forbidden._tag == "AccessDenied"
    assert err.reason == "no"
    assert str(err) == "AccessDenied(user='eve', reason='no')"
    assert str(Empty()) == "Empty()"


def test_tagged_errors_stay_hashable_by_identity() -> None:
    a, b = NotFound("x"), NotFound("x")

    assert a == b
    assert len({a, b}) == 2


def test_a_tagged_error_can_be_raised_and_caught_like_any_exception() -> None:
    with pytest.raises(NotFound) as info:
        raise NotFound("room-9")
    assert info.value.id == "room-9"


def test_timeout_exception_is_a_tagged_error_carrying_the_duration() -> None:
    err = TimeoutException(1500.0)

    assert isinstance(err, TaggedError)
    assert err.duration_ms == 1500.0
    assert TimeoutException._tag == "TimeoutException"


# -- constructors ------------------------------------------------------------------


def test_succeed_and_void_give_their_value() -> None:
    assert run_sync(succeed(42)) == 42
    assert run_sync(void) is None


def test_fail_puts_the_error_in_the_typed_channel() -> None:
    assert run_sync_exit(fail(NotFound("a"))) == Failure(Fail(NotFound("a")))


def test_run_sync_raises_the_tagged_error_itself_on_a_typed_failure() -> None:
    err = NotFound("a")

    with pytest.raises(NotFound) as info:
        run_sync(fail(err))
    assert info.value is err


def test_die_is_a_defect_not_a_typed_failure() -> None:
    boom = RuntimeError("boom")

    assert run_sync_exit(die(boom)) == Failure(Die(boom))


def test_fail_cause_fails_with_the_whole_cause() -> None:
    cause: Cause[NotFound] = Fail(NotFound("a"))

    assert run_sync_exit(fail_cause(cause)) == Failure(cause)
    assert run_sync_exit(fail_cause(Interrupt())) == Failure(Interrupt())


def test_building_an_effect_runs_nothing_until_it_is_run() -> None:
    calls: list[str] = []
    eff = sync(lambda: calls.append("ran"))

    assert calls == []
    run_sync(eff)
    run_sync(eff)
    assert calls == ["ran", "ran"]


def test_suspend_builds_the_effect_afresh_each_time_it_runs() -> None:
    built: list[int] = []

    def build() -> Effect[int]:
        built.append(len(built))
        return succeed(len(built))

    eff = suspend(build)
    assert built == []
    assert run_sync(eff) == 1
    assert run_sync(eff) == 2
    assert built == [0, 1]


# -- errors vs defects -------------------------------------------------------------


def _explode(err: Exception) -> int:
    raise err


def test_an_exception_inside_sync_is_a_defect_with_the_original_exception() -> None:
    err = ValueError("bad input")

    ex = run_sync_exit(sync(lambda: _explode(err)))

    assert ex == Failure(Die(err))
    assert isinstance(ex, Failure)
    assert ex.cause.defects()[0] is err
    assert ex.cause.failures() == []


def test_run_sync_reraises_the_original_defect_with_its_traceback() -> None:
    err = ValueError("bad input")

    with pytest.raises(ValueError) as info:
        run_sync(sync(lambda: _explode(err)).map(lambda n: n + 1))

    assert info.value is err
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "_explode" in frames


def test_a_tagged_error_raised_inside_sync_is_a_defect_not_a_typed_failure() -> None:
    err = NotFound("raised, not failed")

    ex = run_sync_exit(sync(lambda: _explode(err)))

    assert ex == Failure(Die(err))


def test_try_maps_an_exception_to_a_typed_error() -> None:
    def parse(text: str) -> Effect[int, NotFound]:
        return try_(lambda: int(text), lambda exc: NotFound(f"{type(exc).__name__}: {text}"))

    assert run_sync(parse("12")) == 12
    assert run_sync_exit(parse("twelve")) == Failure(Fail(NotFound("ValueError: twelve")))


def test_try_runs_its_function_each_time_not_at_build_time() -> None:
    calls: list[int] = []
    eff = try_(lambda: calls.append(1), lambda exc: NotFound(str(exc)))

    assert calls == []
    run_sync(eff)
    run_sync(eff)
    assert calls == [1, 1]


@pytest.mark.anyio
async def test_promise_awaits_an_async_function() -> None:
    async def fetch() -> str:
        return "payload"

    assert await run_promise(promise(fetch).map(str.upper)) == "PAYLOAD"


@pytest.mark.anyio
async def test_an_exception_inside_promise_is_a_defect() -> None:
    err = ConnectionError("reset")

    async def fetch() -> str:
        raise err

    ex = await run_promise_exit(promise(fetch))

    assert ex == Failure(Die(err))
    with pytest.raises(ConnectionError) as info:
        await run_promise(promise(fetch))
    assert info.value is err


@pytest.mark.anyio
async def test_try_promise_maps_an_exception_to_a_typed_error() -> None:
    async def fetch(ok: bool) -> str:
        if not ok:
            raise ConnectionError("reset")
        return "payload"

    def load(ok: bool) -> Effect[str, NotFound]:
        return try_promise(lambda: fetch(ok), lambda exc: NotFound(str(exc)))

    assert await run_promise(load(True)) == "payload"
    assert await run_promise_exit(load(False)) == Failure(Fail(NotFound("reset")))
    with pytest.raises(NotFound):
        await run_promise(load(False))


# -- methods -------------------------------------------------------------------------


def test_map_flat_map_tap_as_and_zip_methods() -> None:
    seen: list[int] = []

    eff = (
        succeed(2)
        .map(lambda n: n * 10)
        .flat_map(lambda n: succeed(n + 1))
        .tap(lambda n: sync(lambda: seen.append(n)))
        .zip(succeed("b"))
    )

    assert run_sync(eff) == (21, "b")
    assert seen == [21]
    assert run_sync(succeed(1).as_("replaced")) == "replaced"


def test_flat_map_skips_its_function_after_a_failure() -> None:
    calls: list[int] = []
    failed: Effect[int, NotFound] = fail(NotFound("a"))

    ex = run_sync_exit(failed.flat_map(lambda n: sync(lambda: calls.append(n))).map(lambda _: "unused"))

    assert ex == Failure(Fail(NotFound("a")))
    assert calls == []


def test_zip_runs_left_then_right() -> None:
    order: list[str] = []

    eff = sync(lambda: order.append("left")).zip(sync(lambda: order.append("right")))

    run_sync(eff)
    assert order == ["left", "right"]


def test_a_failure_in_a_tapped_effect_fails_the_whole_effect() -> None:
    eff = succeed(1).tap(lambda _: fail(NotFound("tap")))

    assert run_sync_exit(eff) == Failure(Fail(NotFound("tap")))


def test_error_methods() -> None:
    failing: Effect[int, NotFound | Forbidden] = fail(NotFound("a"))

    assert run_sync(failing.catch_tag(NotFound, lambda e: succeed(len(e.id)))) == 1
    assert run_sync(failing.catch_all(lambda e: succeed(str(e)))) == "NotFound(id='a')"
    assert run_sync_exit(failing.map_error(lambda e: Empty())) == Failure(Fail(Empty()))
    assert run_sync(failing.either()) == ResultFailure(NotFound("a"))
    assert run_sync(succeed(3).either()) == ResultSuccess(3)
    assert run_sync_exit(failing.or_die()) == Failure(Die(NotFound("a")))
    defect: Effect[int] = die(KeyError("k"))
    assert run_sync(defect.catch_all_defect(lambda d: succeed(type(d).__name__))) == "KeyError"


def test_tap_error_method_sees_the_error_and_keeps_the_failure() -> None:
    seen: list[object] = []
    failing: Effect[int, NotFound] = fail(NotFound("a"))

    ex = run_sync_exit(failing.tap_error(lambda e: sync(lambda: seen.append(e))))

    assert ex == Failure(Fail(NotFound("a")))
    assert seen == [NotFound("a")]


def test_exit_method_turns_any_outcome_into_a_success() -> None:
    boom = RuntimeError("boom")
    failing: Effect[int, NotFound] = fail(NotFound("a"))
    dying: Effect[int] = die(boom)

    ok: Exit[int, object] = run_sync(succeed(1).exit())
    assert ok == Success(1)
    assert run_sync(failing.exit()) == Failure(Fail(NotFound("a")))
    assert run_sync(dying.exit()) == Failure(Die(boom))


def test_pipe_method_applies_functions_left_to_right() -> None:
    eff = succeed(2).pipe(
        lambda e: e.map(lambda n: n + 1),
        lambda e: e.map(lambda n: n * 10),
    )

    assert run_sync(eff) == 30
    assert succeed(1).pipe(lambda e: "anything") == "anything"
