"""Bad input never changes state and never affects other connections; failures
are routed (on_decode_error, on_error, the log, or the direct-API caller)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from durable_effect.effect import Failure, run_promise, run_promise_exit
from durable_effect.sockets import (
    EngineOptions,
    RoomExecutionError,
    RoomNotFoundError,
    RoomValidationError,
)
from durable_effect.sockets.memory import START_MS, InMemorySocketRuntime

from .conftest import RuntimeFactory
from .rooms import (
    ROOM,
    Credit,
    Do,
    Inc,
    Lab,
    LabClient,
    LabConn,
    LabState,
    Nope,
    OnError,
    Probe,
    Said,
    Shout,
    join,
    lab_config,
    lab_opts,
)

pytestmark = pytest.mark.anyio


async def setup(
    make_runtime: RuntimeFactory, *, on_error: OnError = "none", decode_handler: bool = True, **options: Any
) -> tuple[InMemorySocketRuntime, Probe, LabClient, LabClient]:
    """alice and bob in a room whose count is 7."""
    probe = Probe()
    engine_options = EngineOptions(**options) if options else None
    rt = make_runtime(lab_config(probe, on_error=on_error, decode_handler=decode_handler), options=engine_options)
    alice = await join(rt, "alice")
    bob = await join(rt, "bob")
    await run_promise(alice.receive(Inc(by=7)))
    return rt, probe, alice, bob


async def still_fine(rt: InMemorySocketRuntime, alice: LabClient, bob: LabClient, *, alice_open: bool = True) -> None:
    """State is exactly as before, and the room still serves everyone."""
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=7)
    assert alice.is_open() is alice_open
    await run_promise(bob.receive(Shout(text="still here")))
    assert bob.received[-1] == Said(text="still here", by="bob")
    if alice_open:
        assert alice.received[-1] == Said(text="still here", by="bob")
        await run_promise(alice.receive(Inc(by=0)))
        assert alice.is_open()


BAD_FRAMES: list[tuple[str, str | bytes | dict[str, object]]] = [
    ("not json", "this is not json"),
    ("wrong shape", {"_tag": "Inc", "by": "lots"}),
    ("unknown tag", {"_tag": "Explode"}),
    ("no tag", {"by": 1}),
    ("json but not an object", "[1, 2, 3]"),
    ("invalid utf-8", b"\xff\xfe{"),
    ("binary, not json", b"plain bytes"),
    ("binary, unknown tag", b'{"_tag": "Explode"}'),
]


@pytest.mark.parametrize(("label", "frame"), BAD_FRAMES, ids=[label for label, _ in BAD_FRAMES])
async def test_bad_frame_goes_to_on_decode_error(
    make_runtime: RuntimeFactory, label: str, frame: str | bytes | dict[str, object]
) -> None:
    rt, probe, alice, bob = await setup(make_runtime)
    await run_promise(alice.receive_raw(frame))
    (decoded,) = probe.decode_errors
    raw, error = decoded
    if isinstance(frame, str):
        assert raw == frame  # the raw text, verbatim
    elif isinstance(frame, bytes) and frame.isascii():
        assert raw == frame.decode()
    assert error == "RoomValidationError"
    await still_fine(rt, alice, bob)


async def test_on_decode_error_gets_a_room_validation_error_with_the_detail_and_the_frame(
    make_runtime: RuntimeFactory,
) -> None:
    rt, probe, alice, bob = await setup(make_runtime)
    await run_promise(alice.receive_raw('{"_tag": "Explode"}'))
    (error,) = probe.validation_errors
    assert error.raw == '{"_tag": "Explode"}'
    assert "Explode" in error.message and "does not match any of the expected tags" in error.message
    assert isinstance(error.__cause__, ValidationError)
    await still_fine(rt, alice, bob)


async def test_bad_frame_without_on_decode_error_is_logged(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rt, probe, alice, bob = await setup(make_runtime, decode_handler=False)
    await run_promise(alice.receive_raw("nope"))
    assert probe.decode_errors == []
    assert any("undecodable frame" in r.getMessage() for r in caplog.records)
    await still_fine(rt, alice, bob)


async def test_binary_frame_of_json_is_read_as_utf8(make_runtime: RuntimeFactory) -> None:
    rt, probe, alice, bob = await setup(make_runtime)
    await run_promise(alice.receive_raw(b'{"_tag": "Inc", "by": 2}'))
    await run_promise(alice.receive_raw('{"_tag": "Shout", "text": "h\u00e9llo"}'.encode()))
    assert probe.decode_errors == []
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=9)
    assert bob.received[-1] == Said(text="h\u00e9llo", by="alice")


async def test_invalid_utf8_reaches_on_decode_error_as_text(make_runtime: RuntimeFactory) -> None:
    rt, probe, alice, bob = await setup(make_runtime)
    await run_promise(alice.receive_raw(b'{"_tag": "Inc", "by": 2, "x": "\xff"}'))
    (decoded,) = probe.decode_errors
    assert decoded[0].startswith('{"_tag": "Inc"')
    await still_fine(rt, alice, bob)


async def test_oversized_frame_closes_with_1009(make_runtime: RuntimeFactory) -> None:
    rt, probe, alice, bob = await setup(make_runtime, max_frame_bytes=200)
    frame = Shout(text="x" * 200).to_json()
    await run_promise(alice.receive_raw(frame))
    assert alice.close_code == 1009
    assert probe.decode_errors == []
    assert [e for e in probe.log if e.startswith("close:alice")] == ["close:alice:others=['bob']"]
    assert not any(isinstance(m, Said) for m in bob.received)  # never delivered
    await still_fine(rt, alice, bob, alice_open=False)
    # A frame at the limit is fine.
    text = "s" * (200 - len(Shout(text="").to_json()))
    small = Shout(text=text).to_json()
    assert len(small) == 200
    await run_promise(bob.receive_raw(small))
    assert bob.received[-1] == Said(text=text, by="bob")
    assert bob.is_open()


@pytest.mark.parametrize("action", ["boom", "refuse", "save_then_fail"])
async def test_failing_handler_without_on_error(
    make_runtime: RuntimeFactory, action: Any, caplog: pytest.LogCaptureFixture
) -> None:
    rt, probe, alice, bob = await setup(make_runtime)
    await run_promise(alice.receive(Do(action=action)))
    assert "event:Do:alice:done" not in probe.log
    assert any("on_event failed" in r.getMessage() for r in caplog.records)
    await still_fine(rt, alice, bob)


async def test_on_error_receives_the_typed_error_and_the_defect(make_runtime: RuntimeFactory) -> None:
    rt, probe, alice, bob = await setup(make_runtime, on_error="record")
    await run_promise(alice.receive(Do(action="refuse")))
    await run_promise(alice.receive(Do(action="boom")))
    typed, defect = probe.errors
    assert typed == Nope("refused")
    assert isinstance(defect, RuntimeError) and str(defect) == "boom"
    await still_fine(rt, alice, bob)


async def test_on_error_that_fails_too(make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture) -> None:
    rt, probe, alice, bob = await setup(make_runtime, on_error="fail")
    await run_promise(alice.receive(Do(action="save_then_fail")))
    assert probe.errors == [Nope("after save")]
    assert any("on_event failed" in r.getMessage() for r in caplog.records)
    await still_fine(rt, alice, bob)


# -- 8. transactional handler runs ---------------------------------------------------------------


async def test_save_then_fail_leaves_stored_state_unchanged(make_runtime: RuntimeFactory) -> None:
    rt, _, alice, bob = await setup(make_runtime)
    await run_promise(alice.receive(Do(action="save_then_fail")))
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=7)
    # Through the direct API too, and the caller hears about it.
    result = await run_promise_exit(rt.room(Lab).send(ROOM, Do(action="save_then_fail")))
    assert isinstance(result, Failure)
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=7)
    await still_fine(rt, alice, bob)


async def test_save_then_fail_is_rolled_back_even_when_on_error_recovers(make_runtime: RuntimeFactory) -> None:
    rt, probe, alice, bob = await setup(make_runtime, on_error="record")
    await run_promise(alice.receive(Do(action="save_then_fail")))
    assert probe.errors == [Nope("after save")]
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=7)
    await still_fine(rt, alice, bob)


@pytest.mark.parametrize("on_error", ["none", "record"])
async def test_a_failed_run_keeps_no_alarm_and_no_connection_state(
    make_runtime: RuntimeFactory, on_error: OnError
) -> None:
    rt, probe, alice, bob = await setup(make_runtime, on_error=on_error)
    await run_promise(alice.receive(Do(action="change_then_fail")))
    # Inside the run, its own changes were visible ...
    assert probe.next_alarms == [START_MS + 5_000]
    # ... and after it failed, none of them stayed.
    assert await run_promise(rt.advance(60_000)) == 0
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert [(i.id, i.state) for i in infos] == [("alice", LabConn(name="alice")), ("bob", LabConn(name="bob"))]
    await run_promise(rt.hibernate(Lab, ROOM))  # the attachment was restored too
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert [i.state.note for i in infos] == ["", ""]
    await still_fine(rt, alice, bob)


# -- direct API failures -----------------------------------------------------------------------


def failure_of(result: object) -> object:
    assert isinstance(result, Failure), result
    (err,) = result.cause.failures()
    return err


async def test_direct_send_surfaces_handler_failures(make_runtime: RuntimeFactory) -> None:
    rt, _, alice, bob = await setup(make_runtime)
    lab = rt.room(Lab)

    typed = failure_of(await run_promise_exit(lab.send(ROOM, Do(action="refuse"))))
    assert isinstance(typed, RoomExecutionError)
    assert typed.cause == Nope("refused")

    defect = failure_of(await run_promise_exit(lab.send(ROOM, Do(action="boom"))))
    assert isinstance(defect, RoomExecutionError)
    assert isinstance(defect.cause, RuntimeError)

    # `.either()` gives the same error as a value.
    result = await run_promise(lab.send(ROOM, Do(action="refuse")).either())
    assert isinstance(result.failure(), RoomExecutionError)
    # A direct send that succeeds.
    await run_promise(lab.send(ROOM, Inc(by=0)))
    await still_fine(rt, alice, bob)


async def test_direct_send_of_an_invalid_event(make_runtime: RuntimeFactory) -> None:
    rt, _, alice, bob = await setup(make_runtime)
    bad: Any = {"_tag": "Inc", "by": "many"}
    err = failure_of(await run_promise_exit(rt.room(Lab).send(ROOM, bad)))
    assert isinstance(err, RoomValidationError)
    # Another room's event with the same `_tag` is not Lab's Inc.
    other: Any = Credit(amount=3)
    err = failure_of(await run_promise_exit(rt.room(Lab).send(ROOM, other)))
    assert isinstance(err, RoomValidationError)
    # A dict that is valid is accepted by the untyped handle.
    await run_promise(rt.room("lab").send(ROOM, Inc(by=0)))
    await still_fine(rt, alice, bob)


async def test_unknown_room(make_runtime: RuntimeFactory) -> None:
    rt, _, alice, bob = await setup(make_runtime)
    nowhere = rt.room("nowhere")
    assert isinstance(failure_of(await run_promise_exit(nowhere.get_state(ROOM))), RoomNotFoundError)
    assert isinstance(failure_of(await run_promise_exit(nowhere.send(ROOM, Inc()))), RoomNotFoundError)
    assert isinstance(failure_of(await run_promise_exit(nowhere.get_connections(ROOM))), RoomNotFoundError)
    assert isinstance(failure_of(await run_promise_exit(nowhere.fire_alarm(ROOM))), RoomNotFoundError)
    err = failure_of(await run_promise_exit(rt.testing_connect("nowhere", ROOM, lab_opts("x"))))
    assert err == RoomNotFoundError("nowhere")
    await still_fine(rt, alice, bob)
