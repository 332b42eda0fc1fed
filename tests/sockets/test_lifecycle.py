"""Connect, serial execution, duplicate ids and tags: the life of a connection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from durable_effect.effect import Failure, run_promise, run_promise_exit
from durable_effect.sockets import ConnectionInit, UpgradeError, UpgradeOpts

from .conftest import RuntimeFactory
from .rooms import ROOM, Do, Inc, Joined, Lab, LabConn, LabState, Nope, Probe, join, lab_config, lab_opts, parked

pytestmark = pytest.mark.anyio


async def upgrade_error(rt_exit: object) -> UpgradeError:
    assert isinstance(rt_exit, Failure), rt_exit
    (err,) = rt_exit.cause.failures()
    assert isinstance(err, UpgradeError), err
    return err


# -- 1. on_connect ------------------------------------------------------------------------------


async def test_on_connect_runs_once_during_upgrade_with_the_connection_registered(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))

    alice = await join(rt, "alice", meta={"ip": "10.0.0.1"})

    # on_connect ran once, before testing_connect returned, and already saw alice.
    assert probe.log == ["connect:alice"]
    assert probe.ids_during_connect == [["alice"]]
    assert probe.meta_seen == [{"ip": "10.0.0.1"}]
    assert alice.id == "alice" and alice.is_open()

    bob = await join(rt, "bob", tags=["team:blue"], meta={"ip": "10.0.0.2"})
    assert probe.log == ["connect:alice", "connect:bob"]
    assert probe.ids_during_connect[1] == ["alice", "bob"]
    assert bob.tags == ("team:blue",)
    assert alice.received == [Joined(name="bob")]  # on_connect's broadcast, except the newcomer
    assert bob.received == []

    # Later events do not run on_connect again.
    await run_promise(alice.receive(Inc(by=1)))
    await run_promise(bob.receive(Inc(by=1)))
    assert [e for e in probe.log if e.startswith("connect:")] == ["connect:alice", "connect:bob"]


async def test_meta_is_set_during_on_connect_only(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    alice = await join(rt, "alice", meta={"token": "t-1"})

    assert probe.meta_seen == [{"token": "t-1"}]
    assert probe.conns["alice"].meta is None  # the same Connection object, after on_connect

    await run_promise(alice.receive(Do(action="whoami")))
    assert probe.whoami[-1].meta is None

    await run_promise(rt.hibernate(Lab, ROOM))
    await run_promise(alice.receive(Do(action="whoami")))
    assert probe.whoami[-1].id == "alice"
    assert probe.whoami[-1].meta is None


async def test_random_connection_id_when_none_given(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    a = await run_promise(rt.testing_connect(Lab, ROOM, UpgradeOpts(ConnectionInit(LabConn(name="x")))))
    b = await run_promise(rt.testing_connect(Lab, ROOM, UpgradeOpts(ConnectionInit(LabConn(name="y")))))
    assert a.id and b.id and a.id != b.id
    assert probe.log == [f"connect:{a.id}", f"connect:{b.id}"]
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert [i.id for i in infos] == [a.id, b.id]


async def test_failed_on_connect_refuses_the_upgrade_and_leaves_no_connection(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    alice = await join(rt, "alice")
    probe.connect_fails = True

    err = await upgrade_error(await run_promise_exit(rt.testing_connect(Lab, ROOM, lab_opts("mallory"))))
    assert err.status == 500
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert [i.id for i in infos] == ["alice"]
    assert alice.received == []  # the Joined broadcast came after the failure


# -- 2. serial execution ----------------------------------------------------------------------------


async def test_handlers_of_one_instance_never_interleave(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    alice = await join(rt, "alice")
    bob = await join(rt, "bob")
    probe.log.clear()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_promise, alice.receive(Do(action="slow")))
        tg.start_soon(run_promise, bob.receive(Do(action="slow")))
        await parked(rt)
        # One handler is parked inside its run; the other has not started.
        assert len([e for e in probe.log if e.startswith("enter:")]) == 1
        probe.gate.set()

    first, second = probe.log[0][len("enter:") :], probe.log[3][len("enter:") :]
    assert probe.log == [
        f"enter:{first}",
        f"exit:{first}",
        f"event:Do:{first}:done",
        f"enter:{second}",
        f"exit:{second}",
        f"event:Do:{second}:done",
    ]
    assert {first, second} == {"alice", "bob"}
    # Each read the other's write: no lost update.
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=2)


async def test_different_instances_run_concurrently(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    alice = await join(rt, "alice", room_id="one")
    bob = await join(rt, "bob", room_id="two")

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_promise, alice.receive(Do(action="slow")))
        await parked(rt)
        assert "enter:alice" in probe.log
        # Instance "one" is busy; instance "two" is not held up by it.
        await run_promise(bob.receive(Inc(by=5)))
        assert await run_promise(rt.room(Lab).get_state("two")) == LabState(count=5)
        assert "exit:alice" not in probe.log
        probe.gate.set()
    assert await run_promise(rt.room(Lab).get_state("one")) == LabState(count=1)


# -- 5. on_duplicate ------------------------------------------------------------------------------


async def test_duplicate_allow_keeps_both(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    first = await join(rt, "alice")
    second = await join(rt, "alice", on_duplicate="allow")
    assert first.is_open() and second.is_open()
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert [i.id for i in infos] == ["alice", "alice"]
    assert probe.log == ["connect:alice", "connect:alice"]


async def test_duplicate_replace_closes_the_old_one_first(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    old = await join(rt, "alice")
    bob = await join(rt, "bob")
    new = await join(rt, "alice", on_duplicate="replace")

    assert not old.is_open()
    assert old.close_code == 1012
    assert new.is_open()
    # The old socket's on_close ran to completion before the new on_connect,
    # and the new socket was not registered yet while it ran.
    assert probe.log == ["connect:alice", "connect:bob", "close:alice:others=['bob']", "connect:alice"]
    assert probe.ids_during_connect[-1] == ["bob", "alice"]
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert sorted(i.id for i in infos) == ["alice", "bob"]
    assert [type(m).__name__ for m in bob.received] == ["Left", "Joined"]


async def test_duplicate_reject_refuses_with_409(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    first = await join(rt, "alice")

    err = await upgrade_error(
        await run_promise_exit(rt.testing_connect(Lab, ROOM, lab_opts("alice", on_duplicate="reject")))
    )
    assert err.status == 409
    assert probe.log == ["connect:alice"]  # on_connect did not run for the refused socket
    assert first.is_open()
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert [i.id for i in infos] == ["alice"]

    # Once the first one is gone, the id is free again.
    await run_promise(first.close())
    again = await join(rt, "alice", on_duplicate="reject")
    assert again.is_open()


# -- 6. tags ------------------------------------------------------------------------------------


async def test_tag_limits(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))

    async def refused(tags: Sequence[str] = (), conn_id: str | None = None) -> UpgradeError:
        opts = lab_opts("t", tags=tags, conn_id=conn_id)
        return await upgrade_error(await run_promise_exit(rt.testing_connect(Lab, ROOM, opts)))

    # The id counts as one tag: 9 more are fine, 10 more are too many.
    ok = await join(rt, "nine", tags=[f"t{i}" for i in range(9)])
    assert len(ok.tags) == 9
    err = await refused(tags=[f"t{i}" for i in range(10)])
    assert err.status == 400 and "at most 10" in err.message

    assert (await refused(tags=[""])).status == 400
    long_ok = await join(rt, "long", tags=["x" * 256])
    assert long_ok.tags == ("x" * 256,)
    assert (await refused(tags=["x" * 257])).status == 400
    # The id itself is a tag: same limits.
    assert (await refused(conn_id="i" * 257)).status == 400

    # Refused upgrades ran no on_connect and left no connection.
    assert probe.log == ["connect:nine", "connect:long"]
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert [i.id for i in infos] == ["nine", "long"]


async def test_on_connect_failure_handled_by_on_error_completes_then_closes(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe, connect_on_error=True))
    bob = await join(rt, "bob")
    probe.connect_fails = True

    alice = await join(rt, "alice")  # the upgrade completes ...
    assert not alice.is_open()  # ... and the close follows
    assert alice.close_code == 1011
    assert probe.errors == [Nope("connect refused")]
    assert probe.log == ["connect:bob", "connect:alice", "close:alice:others=['bob']"]
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert [i.id for i in infos] == ["bob"]
    assert bob.is_open()


async def test_upgrade_with_bad_initial_state_is_refused(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    wrong: Any = {"nickname": "no name field"}
    opts = UpgradeOpts(ConnectionInit(initial_state=wrong, id="w"))
    assert (await upgrade_error(await run_promise_exit(rt.testing_connect(Lab, ROOM, opts)))).status == 400
    # Over the attachment cap from the start.
    big = lab_opts("big", note="x" * 3_000)
    err = await upgrade_error(await run_promise_exit(rt.testing_connect(Lab, ROOM, big)))
    assert err.status == 400 and "cap" in err.message
    assert probe.log == []
    assert await run_promise(rt.room(Lab).get_connections(ROOM)) == []


async def test_handlers_run_in_arrival_order(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    clients = [await join(rt, name) for name in ["a", "b", "c", "d"]]
    probe.log.clear()

    async with anyio.create_task_group() as tg:
        for client in clients:
            tg.start_soon(run_promise, client.receive(Do(action="slow")))
            await parked(rt)
        assert probe.log == ["enter:a"]
        probe.gate.set()

    assert [e for e in probe.log if e.startswith("enter:")] == ["enter:a", "enter:b", "enter:c", "enter:d"]
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=4)
