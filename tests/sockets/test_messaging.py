"""Broadcast filters and failures; conn.send, conn.set_state and conn.close."""

from __future__ import annotations

from typing import Any

import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets import (
    AttachmentTooLargeError,
    BroadcastError,
    EngineOptions,
    RoomValidationError,
)
from durable_effect.sockets.memory import InMemorySocketRuntime

from .conftest import RuntimeFactory
from .rooms import (
    ROOM,
    Do,
    Inc,
    Lab,
    LabClient,
    LabConn,
    LabState,
    Probe,
    Said,
    SetNote,
    Shout,
    Whisper,
    join,
    lab_config,
)

pytestmark = pytest.mark.anyio


async def four(rt: InMemorySocketRuntime) -> dict[str, LabClient]:
    """alice and bob on team red, carol and dave on team blue; nothing received yet."""
    clients = {
        "alice": await join(rt, "alice", tags=["red"]),
        "bob": await join(rt, "bob", tags=["red"]),
        "carol": await join(rt, "carol", tags=["blue"]),
        "dave": await join(rt, "dave", tags=["blue", "admin"]),
    }
    return clients


def got(clients: dict[str, LabClient], text: str) -> list[str]:
    """Who received `Said(text)`, in name order."""
    return sorted(
        name for name, c in clients.items() if any(isinstance(m, Said) and m.text == text for m in c.received)
    )


# -- 3. broadcast -----------------------------------------------------------------------------------


async def test_broadcast_filters_combine(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    c = await four(rt)
    alice = c["alice"]

    await run_promise(alice.receive(Shout(text="all")))
    assert got(c, "all") == ["alice", "bob", "carol", "dave"]

    await run_promise(alice.receive(Shout(text="red", only_tag="red")))
    assert got(c, "red") == ["alice", "bob"]

    await run_promise(alice.receive(Shout(text="to", to=["bob", "carol"])))
    assert got(c, "to") == ["bob", "carol"]

    await run_promise(alice.receive(Shout(text="except-one", exclude_one="alice")))
    assert got(c, "except-one") == ["bob", "carol", "dave"]

    await run_promise(alice.receive(Shout(text="except-list", exclude=["alice", "dave"])))
    assert got(c, "except-list") == ["bob", "carol"]

    # to ∩ tag minus except_
    combo = Shout(text="combo", to=["alice", "carol", "dave"], only_tag="blue", exclude=["dave"])
    await run_promise(alice.receive(combo))
    assert got(c, "combo") == ["carol"]

    # A tag nobody has, or an empty `to`: nobody.
    await run_promise(alice.receive(Shout(text="nobody", only_tag="green")))
    await run_promise(alice.receive(Shout(text="empty-to", to=[])))
    assert got(c, "nobody") == [] and got(c, "empty-to") == []
    assert probe.broadcast_errors == []


async def test_broadcast_skips_closed_sockets(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    c = await four(rt)
    await run_promise(c["carol"].close(1000, "bye"))
    before = len(c["carol"].received)

    await run_promise(c["alice"].receive(Shout(text="after")))
    assert got(c, "after") == ["alice", "bob", "dave"]
    assert len(c["carol"].received) == before
    assert probe.broadcast_errors == []  # a closed socket is skipped, not a failure


async def test_a_send_that_fails_closes_only_that_connection(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    c = await four(rt)
    c["bob"].fail_sends()

    await run_promise(c["alice"].receive(Shout(text="hi")))
    assert got(c, "hi") == ["alice", "carol", "dave"]
    # A run's frames go out after it commits, so a send that fails then cannot
    # fail the run: the handler finished, and the broken connection is closed
    # (1011) and forgotten, with its on_close run once.
    assert probe.log[-2] == "event:Shout:alice:done"
    assert probe.log[-1].startswith("close:bob:")
    assert probe.broadcast_errors == []
    assert not c["bob"].is_open()
    assert c["bob"].close_code == 1011

    await run_promise(c["alice"].receive(Shout(text="again")))
    assert got(c, "again") == ["alice", "carol", "dave"]


async def test_broadcast_is_encoded_once(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(lab_config(Probe()))
    c = await four(rt)
    await run_promise(c["alice"].receive(Shout(text="same")))
    frames = {name: cl.raw_received[-1] for name, cl in c.items()}
    assert len(set(frames.values())) == 1


async def test_direct_api_broadcast_reaches_everyone(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(lab_config(Probe()))
    c = await four(rt)
    await run_promise(rt.room(Lab).broadcast(ROOM, Said(text="from-api", by="server")))
    assert got(c, "from-api") == ["alice", "bob", "carol", "dave"]


# -- 4. connection operations -----------------------------------------------------------------


async def test_conn_send_reaches_only_that_connection(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    c = await four(rt)
    await run_promise(c["alice"].receive(Whisper(to="carol", text="psst")))
    assert got(c, "psst") == ["carol"]
    assert c["carol"].received[-1] == Said(text="psst", by="alice")

    c["carol"].fail_sends()
    await run_promise(c["alice"].receive(Whisper(to="carol", text="fails")))
    assert probe.log[-2] == "event:Whisper:alice:done"  # the run committed; then the send failed
    assert probe.log[-1].startswith("close:carol:")
    assert not c["carol"].is_open() and c["carol"].close_code == 1011


async def test_set_state_is_validated_capped_and_kept_on_error(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    alice = await join(rt, "alice", note="first")

    await run_promise(alice.receive(SetNote(note="second")))
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert infos[0].state == LabConn(name="alice", note="second")
    assert probe.conns["alice"].state == LabConn(name="alice", note="second")

    # Over the 2,048-byte attachment cap: AttachmentTooLargeError, old state kept.
    await run_promise(alice.receive(SetNote(note="x" * 2_100)))
    (err,) = probe.errors
    assert isinstance(err, AttachmentTooLargeError)
    assert err.limit == 2_048 and err.size > 2_048
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert infos[0].state == LabConn(name="alice", note="second")

    # ... also after a wake, when the state comes back from the attachment.
    await run_promise(rt.hibernate(Lab, ROOM))
    await run_promise(alice.receive(Do(action="whoami")))
    assert probe.whoami[-1].state == LabConn(name="alice", note="second")

    # Just under the cap is fine.
    await run_promise(alice.receive(SetNote(note="y" * 1_900)))
    assert len(probe.errors) == 1
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert infos[0].state.note == "y" * 1_900


async def test_attachment_cap_is_configurable(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe), options=EngineOptions(attachment_cap=4_096))
    alice = await join(rt, "alice")
    await run_promise(alice.receive(SetNote(note="x" * 3_000)))
    assert probe.errors == []
    await run_promise(alice.receive(SetNote(note="x" * 4_100)))
    (err,) = probe.errors
    assert isinstance(err, AttachmentTooLargeError) and err.limit == 4_096
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert infos[0].state.note == "x" * 3_000

    with pytest.raises(ValueError):
        EngineOptions(attachment_cap=16_385)


async def test_conn_close_runs_on_close_once_after_the_handler(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    alice = await join(rt, "alice")
    bob = await join(rt, "bob")
    probe.log.clear()

    await run_promise(alice.receive(Do(action="close", code=4001)))
    assert not alice.is_open()
    assert alice.close_code == 4001
    assert probe.log == ["close-requested:alice", "event:Do:alice:done", "close:alice:others=['bob']"]
    assert bob.received[-1].model_dump() == {"tag_": "Left", "name": "alice"}

    # Closing again from the client side does not run on_close a second time.
    await run_promise(alice.close(1000, "bye"))
    assert [e for e in probe.log if e.startswith("close:")] == ["close:alice:others=['bob']"]


async def test_client_close_runs_on_close_once(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    alice = await join(rt, "alice")
    await run_promise(alice.close(1000, "bye"))
    await run_promise(alice.close(1000, "bye"))
    assert probe.log == ["connect:alice", "close:alice:others=[]"]
    assert alice.close_code == 1000


async def test_connection_queries_are_plain_values(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    c = await four(rt)
    await run_promise(c["bob"].receive(SetNote(note="noted")))
    await run_promise(c["carol"].close())
    await run_promise(c["dave"].receive(Do(action="census")))
    assert probe.census == [
        {"all": ["alice", "bob", "dave"], "red": ["alice", "bob"], "noted": ["bob"], "count": 3, "alice": True}
    ]
    await run_promise(rt.room(Lab).send(ROOM, Do(action="census")))
    assert probe.census[-1]["count"] == 3
    infos = await run_promise(rt.room(Lab).get_connections(ROOM, "blue"))
    assert [i.id for i in infos] == ["dave"]


async def test_update_is_a_no_op_without_state(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(lab_config(Probe()))
    lab = rt.room(Lab)
    await run_promise(lab.send(ROOM, Do(action="bump")))
    assert await run_promise(lab.get_state(ROOM)) is None
    await run_promise(lab.send(ROOM, Inc(by=1)))
    await run_promise(lab.send(ROOM, Do(action="bump")))
    assert await run_promise(lab.get_state(ROOM)) == LabState(count=11)


async def test_direct_api_broadcast_reports_failures(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(lab_config(Probe()))
    c = await four(rt)
    c["bob"].fail_sends()
    result = await run_promise(rt.room(Lab).broadcast(ROOM, Said(text="partly", by="server")).either())
    err = result.failure()
    assert isinstance(err, BroadcastError)
    assert [f.connection_id for f in err.failures] == ["bob"] and err.delivered == 3
    assert got(c, "partly") == ["alice", "carol", "dave"]  # the others were served


async def test_direct_api_broadcast_validates_the_message(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(lab_config(Probe()))
    c = await four(rt)
    bad: Any = {"_tag": "Said", "text": 1}
    result = await run_promise(rt.room(Lab).broadcast(ROOM, bad).either())
    assert isinstance(result.failure(), RoomValidationError)
    ok: Any = {"_tag": "Said", "text": "as a dict", "by": "server"}
    await run_promise(rt.room(Lab).broadcast(ROOM, ok))
    assert got(c, "as a dict") == ["alice", "bob", "carol", "dave"]
