"""Hibernation between any two events changes nothing anyone can observe."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from durable_effect.effect import Failure, run_promise, run_promise_exit
from durable_effect.sockets import SystemFailure

from .conftest import RuntimeFactory
from .rooms import (
    ROOM,
    Do,
    Inc,
    Lab,
    LabConn,
    Probe,
    Schedule,
    SetNote,
    Shout,
    Whisper,
    WhoAmI,
    join,
    lab_config,
    lab_opts,
)

pytestmark = pytest.mark.anyio


async def story(make_runtime: RuntimeFactory, hibernate: bool) -> dict[str, Any]:
    """A busy little story; with `hibernate`, the instance is dropped between every two steps."""
    probe = Probe()
    rt = make_runtime(lab_config(probe))

    async def step(action: Callable[[], Awaitable[object]]) -> None:
        await action()
        if hibernate:
            await run_promise(rt.hibernate(Lab, ROOM))

    alice = await join(rt, "alice", tags=["red"], note="a0", meta={"k": 1})
    if hibernate:
        await run_promise(rt.hibernate(Lab, ROOM))
    bob = await join(rt, "bob", tags=["blue"], note="b0")
    if hibernate:
        await run_promise(rt.hibernate(Lab, ROOM))
    await step(lambda: run_promise(alice.receive(Do(action="whoami"))))
    await step(lambda: run_promise(bob.receive(Do(action="whoami"))))
    await step(lambda: run_promise(alice.receive(SetNote(note="a1"))))
    await step(lambda: run_promise(alice.receive(Do(action="whoami"))))
    await step(lambda: run_promise(bob.receive(Inc(by=3))))
    await step(lambda: run_promise(alice.receive(Shout(text="to red", only_tag="red"))))
    await step(lambda: run_promise(bob.receive(Shout(text="not bob", exclude_one="bob"))))
    await step(lambda: run_promise(bob.receive(Whisper(to="alice", text="psst"))))
    await step(lambda: run_promise(rt.room(Lab).send(ROOM, Do(action="whoami"))))
    await step(lambda: run_promise(alice.receive(Schedule(in_ms=1_000))))
    await step(lambda: run_promise(rt.advance("1 second")))
    carol = await join(rt, "carol", note="c0")
    if hibernate:
        await run_promise(rt.hibernate(Lab, ROOM))
    await step(lambda: run_promise(carol.receive(Shout(text="hi all"))))
    await step(lambda: run_promise(bob.close(1000, "bye")))
    await step(lambda: run_promise(carol.receive(Do(action="close", code=4002))))
    await step(lambda: run_promise(alice.receive(Do(action="whoami"))))

    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    return {
        "received": {c.id: c.received for c in (alice, bob, carol)},
        "open": {c.id: c.is_open() for c in (alice, bob, carol)},
        "close_codes": {c.id: c.close_code for c in (alice, bob, carol)},
        "state": await run_promise(rt.room(Lab).get_state(ROOM)),
        "connections": [(i.id, i.tags, i.state) for i in infos],
        "log": probe.log,
        "whoami": probe.whoami,
        "alarm_runs": probe.alarm_runs,
        "meta_seen": probe.meta_seen,
        "ids_during_connect": probe.ids_during_connect,
    }


async def test_hibernating_between_every_step_changes_nothing(make_runtime: RuntimeFactory) -> None:
    awake = await story(make_runtime, hibernate=False)
    napping = await story(make_runtime, hibernate=True)
    assert napping == awake

    # And the story itself is what we expect.
    assert awake["whoami"] == [
        WhoAmI("alice", LabConn(name="alice", note="a0"), None),
        WhoAmI("bob", LabConn(name="bob", note="b0"), None),
        WhoAmI("alice", LabConn(name="alice", note="a1"), None),
        WhoAmI(None, None, None),
        WhoAmI("alice", LabConn(name="alice", note="a1"), None),
    ]
    assert awake["connections"] == [("alice", ("red",), LabConn(name="alice", note="a1"))]
    assert awake["open"] == {"alice": True, "bob": False, "carol": False}
    assert awake["close_codes"] == {"alice": None, "bob": 1000, "carol": 4002}
    assert awake["alarm_runs"] == [None]
    assert awake["meta_seen"] == [{"k": 1}, {}, {}]


async def test_set_state_survives_hibernation(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    alice = await join(rt, "alice", note="before")
    await run_promise(alice.receive(SetNote(note="after")))
    await run_promise(rt.hibernate(Lab, ROOM))
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert [i.state for i in infos] == [LabConn(name="alice", note="after")]
    await run_promise(alice.receive(Do(action="whoami")))
    assert probe.whoami == [WhoAmI("alice", LabConn(name="alice", note="after"), None)]


async def test_alarm_runs_on_a_cold_instance(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    await run_promise(rt.room(Lab).send(ROOM, Inc(by=1)))
    await run_promise(rt.room(Lab).send(ROOM, Schedule(in_ms=1_000)))
    await run_promise(rt.hibernate(Lab, ROOM))
    assert await run_promise(rt.advance("1 second")) == 1
    assert probe.alarm_runs == [None]
    state = await run_promise(rt.room(Lab).get_state(ROOM))
    assert state is not None and state.count == 101


async def test_alarm_retries_survive_hibernation(make_runtime: RuntimeFactory) -> None:
    probe = Probe(alarm_failures_left=1)
    rt = make_runtime(lab_config(probe))
    await run_promise(rt.room(Lab).send(ROOM, Inc(by=1)))
    await run_promise(rt.room(Lab).send(ROOM, Schedule(in_ms=1_000)))
    assert await run_promise(rt.advance("1 second")) == 1  # fails
    await run_promise(rt.hibernate(Lab, ROOM))
    assert await run_promise(rt.advance("2 seconds")) == 1  # the retry, on a cold instance
    assert probe.alarm_runs[0] is None
    retry = probe.alarm_runs[1]
    assert isinstance(retry, SystemFailure) and retry.retry_count == 1


async def test_duplicate_ids_are_seen_after_a_wake(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    old = await join(rt, "alice")
    await run_promise(rt.hibernate(Lab, ROOM))
    result = await run_promise_exit(rt.testing_connect(Lab, ROOM, lab_opts("alice", on_duplicate="reject")))
    assert isinstance(result, Failure)
    await run_promise(rt.hibernate(Lab, ROOM))
    new = await join(rt, "alice", on_duplicate="replace")
    assert old.close_code == 1012 and new.is_open()
    assert probe.log == ["connect:alice", "close:alice:others=[]", "connect:alice"]
