"""A run is all or nothing, on every host: its storage writes, alarm change,
connection states, frames and closes happen together, after its commit, or
not at all (a failed handler, a failed on_error, a failed commit)."""

from __future__ import annotations

import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets import RoomExecutionError
from durable_effect.sockets.memory import InMemorySocketRuntime

from .conftest import RuntimeFactory
from .rooms import ROOM, Do, Inc, Lab, LabClient, LabConn, LabState, Probe, Said, Schedule, Shout, join, lab_config

pytestmark = pytest.mark.anyio


async def three(rt: InMemorySocketRuntime) -> dict[str, LabClient]:
    return {name: await join(rt, name) for name in ("alice", "bob", "carol")}


def texts(client: LabClient) -> list[str]:
    return [m.text for m in client.received if isinstance(m, Said)]


async def stored_alarm(rt: InMemorySocketRuntime, probe: Probe) -> float | None:
    await run_promise(rt.room(Lab).send(ROOM, Schedule()))
    return probe.next_alarms[-1]


async def test_a_failed_run_delivers_nothing_and_stores_nothing(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    c = await three(rt)
    await run_promise(c["alice"].receive(Do(action="say_count")))
    assert [texts(cl) for cl in c.values()] == [["count=1"]] * 3

    await run_promise(c["alice"].receive(Do(action="say_then_fail")))
    await run_promise(c["bob"].receive(Do(action="whoami")))  # a later run, so earlier frames had their chance
    # Nobody saw count=2 (its state was never stored), nor the direct send.
    assert [texts(cl) for cl in c.values()] == [["count=1"]] * 3
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=1)
    assert await stored_alarm(rt, probe) is None
    infos = {i.id: i.state for i in await run_promise(rt.room(Lab).get_connections(ROOM))}
    assert infos["alice"] == LabConn(name="alice")  # set_state was rolled back too

    # The next run counts from the stored state: no number is broadcast twice.
    await run_promise(c["bob"].receive(Do(action="say_count")))
    assert texts(c["carol"]) == ["count=1", "count=2"]


async def test_on_error_is_its_own_run_and_its_frames_go_out(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe, on_error="notify"))
    c = await three(rt)
    await run_promise(c["alice"].receive(Do(action="say_then_fail")))
    assert texts(c["alice"]) == ["error:Nope"]
    assert texts(c["bob"]) == [] and texts(c["carol"]) == []
    assert await run_promise(rt.room(Lab).get_state(ROOM)) is None


async def test_a_failed_on_error_delivers_nothing(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe, on_error="fail"))
    c = await three(rt)
    await run_promise(c["alice"].receive(Do(action="say_then_fail")))
    await run_promise(c["bob"].receive(Do(action="whoami")))
    assert [texts(cl) for cl in c.values()] == [[], [], []]
    assert await run_promise(rt.room(Lab).get_state(ROOM)) is None


async def test_close_in_a_failed_run_does_not_close(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    c = await three(rt)
    await run_promise(c["alice"].receive(Do(action="close_then_fail", code=4001)))
    await run_promise(c["alice"].receive(Do(action="say_count")))
    assert c["alice"].is_open()
    assert not any(line.startswith("close:") for line in probe.log)
    assert texts(c["bob"]) == ["count=1"]


async def test_close_in_a_run_follows_the_frames_sent_before_it(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    c = await three(rt)
    await run_promise(c["alice"].receive(Do(action="say_count")))
    await run_promise(c["alice"].receive(Do(action="close", code=4001)))
    assert texts(c["alice"]) == ["count=1"]
    assert not c["alice"].is_open() and c["alice"].close_code == 4001
    assert [line for line in probe.log if line.startswith("close")][:2] == [
        "close-requested:alice",
        "close:alice:others=['bob', 'carol']",
    ]


async def test_a_failed_commit_fails_the_run(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    c = await three(rt)
    await run_promise(c["alice"].receive(Do(action="say_count")))

    rt.fail_commits(Lab, ROOM)
    await run_promise(c["alice"].receive(Do(action="say_count")))
    # The direct API reports a failed commit as the run's failure.
    result = await run_promise(rt.room(Lab).send(ROOM, Do(action="say_count")).either())
    assert isinstance(result.failure(), RoomExecutionError)
    rt.fail_commits(Lab, ROOM, False)

    # Nothing of the two failed runs was seen or stored; the room goes on.
    assert [texts(cl) for cl in c.values()] == [["count=1"]] * 3
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=1)
    await run_promise(c["bob"].receive(Do(action="say_count")))
    assert [texts(cl) for cl in c.values()] == [["count=1", "count=2"]] * 3
    assert all(cl.is_open() for cl in c.values())


async def test_a_run_that_writes_nothing_has_nothing_to_commit(make_runtime: RuntimeFactory) -> None:
    # Like a Durable Object's output gate, which waits only for storage writes:
    # a run that only sends is not held back (nor failed) by storage.
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    c = await three(rt)
    rt.fail_commits(Lab, ROOM)
    await run_promise(c["alice"].receive(Shout(text="no writes")))
    await run_promise(c["alice"].receive(Do(action="say_count")))
    rt.fail_commits(Lab, ROOM, False)
    assert [texts(cl) for cl in c.values()] == [["no writes"]] * 3
    assert await run_promise(rt.room(Lab).get_state(ROOM)) is None


async def test_a_failed_commit_keeps_the_alarm_as_it_was(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    await run_promise(rt.room(Lab).send(ROOM, Schedule(in_ms=60_000)))
    first = probe.next_alarms[-1]
    assert first is not None

    rt.fail_commits(Lab, ROOM)
    result = await run_promise(rt.room(Lab).send(ROOM, Schedule(in_ms=1_000)).either())
    assert isinstance(result.failure(), RoomExecutionError)
    rt.fail_commits(Lab, ROOM, False)
    assert await stored_alarm(rt, probe) == first
    assert await run_promise(rt.advance("2 seconds")) == 0


async def test_an_alarm_whose_run_fails_stays_until_a_run_commits(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    await run_promise(rt.room(Lab).send(ROOM, Inc(by=1)))
    await run_promise(rt.room(Lab).send(ROOM, Schedule(in_ms=1_000)))
    rt.fail_commits(Lab, ROOM)
    assert await run_promise(rt.advance("1 second")) == 1  # on_alarm ran; its commit failed
    rt.fail_commits(Lab, ROOM, False)
    assert await run_promise(rt.advance("3 seconds")) == 1  # so it ran again, as a retry
    assert [f.retry_count if f else 0 for f in probe.alarm_runs] == [0, 1]
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=101)
    assert await stored_alarm(rt, probe) is None
