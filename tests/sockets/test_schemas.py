"""Wire format: one-member unions, field names as declared, `_tag` reuse across rooms;
and the registry's checks."""

from __future__ import annotations

import json
import types
from typing import Any

import pytest
from pydantic import ValidationError

from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, Schema, SocketRegistry, TaggedStruct, UpgradeOpts, WebSocketRoom

from .conftest import RuntimeFactory
from .rooms import (
    ROOM,
    Camel,
    CamelConn,
    CamelState,
    Credit,
    Inc,
    Lab,
    LabConn,
    LabState,
    Ledger,
    LedgerConn,
    LedgerSaid,
    LedgerState,
    Ping,
    Pong,
    Probe,
    Said,
    Shout,
    camel_config,
    join,
    lab_config,
    lab_handlers,
    registry,
)

pytestmark = pytest.mark.anyio


async def test_one_member_unions_and_camel_case_wire_names(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(camel_config())
    opts = UpgradeOpts(ConnectionInit(CamelConn(display_name="Ann Lee"), id="ann"))
    ann = await run_promise(rt.testing_connect(Camel, ROOM, opts))

    # Outbound: fields on the wire exactly as the model declares them (camelCase aliases); `_tag` stays "_tag".
    assert json.loads(ann.raw_received[0]) == {"_tag": "Pong", "pongCount": 0, "replyText": "Ann Lee"}
    assert ann.received == [Pong(pong_count=0, reply_text="Ann Lee")]

    # Inbound: a camelCase frame decodes; a typed receive sends the same.
    await run_promise(ann.receive_raw({"_tag": "Ping", "replyText": "raw"}))
    await run_promise(ann.receive(Ping(reply_text="typed")))
    assert [json.loads(f) for f in ann.raw_received[1:]] == [
        {"_tag": "Pong", "pongCount": 1, "replyText": "raw"},
        {"_tag": "Pong", "pongCount": 2, "replyText": "typed"},
    ]
    assert json.loads(Ping(reply_text="x").to_json()) == {"_tag": "Ping", "replyText": "x"}

    # State and connection state round-trip through storage and attachments in their aliases.
    assert await run_promise(rt.room(Camel).get_state(ROOM)) == CamelState(total_count=2)
    await run_promise(rt.hibernate(Camel, ROOM))
    infos = await run_promise(rt.room(Camel).get_connections(ROOM))
    assert [i.state for i in infos] == [CamelConn(display_name="Ann Lee")]
    assert infos[0].to_dict() == {"id": "ann", "tags": [], "state": {"displayName": "Ann Lee"}}

    # A snake_case frame is not the declared wire form of a camelCase model... but
    # populate_by_name accepts it (the user's pydantic choice); the room keeps working.
    await run_promise(ann.receive_raw({"_tag": "Ping", "reply_text": "snake"}))
    assert ann.received[-1] == Pong(pong_count=3, reply_text="snake")


async def test_two_rooms_reuse_the_same_tags(make_runtime: RuntimeFactory) -> None:
    # Lab and Ledger both have an "Inc" event and a "Said" broadcast, with other fields.
    assert Inc._tag == Credit._tag == "Inc"
    assert Said._tag == LedgerSaid._tag == "Said"
    rt = make_runtime(lab_config(Probe()))
    alice = await join(rt, "alice")
    teller = await run_promise(
        rt.testing_connect(Ledger, ROOM, UpgradeOpts(ConnectionInit(LedgerConn(name="t"), id="t")))
    )

    await run_promise(alice.receive_raw({"_tag": "Inc", "by": 4}))
    await run_promise(teller.receive_raw({"_tag": "Inc", "amount": 9}))
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=4)
    assert await run_promise(rt.room(Ledger).get_state(ROOM)) == LedgerState(balance=9)

    await run_promise(alice.receive(Shout(text="lab")))
    await run_promise(rt.room(Ledger).broadcast(ROOM, LedgerSaid(line="ledger")))
    assert alice.received == [Said(text="lab", by="alice")]
    assert teller.received == [LedgerSaid(line="ledger")]

    # Each room decodes with its own schema: Lab's shape is a bad frame in Ledger.
    await run_promise(teller.receive_raw({"_tag": "Inc", "by": 4}))
    assert await run_promise(rt.room(Ledger).get_state(ROOM)) == LedgerState(balance=9)
    assert teller.is_open()


def test_event_and_broadcast_unions_of_one_room_may_share_a_tag() -> None:
    class Typing(TaggedStruct, tag="Typing"):
        pass

    class TypingOut(TaggedStruct, tag="Typing"):
        user: str

    class S(TaggedStruct, tag="S"):
        pass

    room = WebSocketRoom.make(
        "typing", state=LabState, connection=LabConn, event=Schema.union(Typing), broadcast=Schema.union(TypingOut)
    )
    assert room.event.validate_json('{"_tag": "Typing"}') == Typing()
    assert room.broadcast.validate_json('{"_tag": "Typing", "user": "u"}') == TypingOut(user="u")
    # Within one union, tags must be unique.
    with pytest.raises(ValueError, match="share the tag"):
        Schema.union(Typing, TypingOut)
    assert Schema.union(S).validate({"_tag": "S"}) == S()


# -- 14. registry -----------------------------------------------------------------------------


def test_build_without_a_rooms_handler_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"no handlers given for room\(s\): ledger"):
        registry.build({"lab": lab_handlers(Probe())})  # type: ignore[unknown-room]  # the run-time check of what mypy refuses
    with pytest.raises(ValueError, match="lab, ledger"):
        registry.build({})  # type: ignore[unknown-room]  # the run-time check of what mypy refuses


def test_build_with_handlers_for_an_unknown_room_or_under_the_wrong_name() -> None:
    lab = lab_handlers(Probe())
    only_lab = SocketRegistry.make(Lab)
    with pytest.raises(ValueError, match="unknown room"):
        only_lab.build({"lab": lab, "ledger": lab})  # type: ignore[unknown-room]  # the run-time check of what mypy refuses
    with pytest.raises(ValueError, match="were given under the name"):
        SocketRegistry.make(Lab, Ledger).build({"lab": lab, "ledger": lab})


def test_room_names_are_unique_in_a_registry() -> None:
    with pytest.raises(ValueError, match="two rooms are named"):
        SocketRegistry.make(Lab, Lab)


def test_a_class_body_with_lazy_annotations_keeps_its_fields() -> None:
    # From Python 3.14 (PEP 649/749) a class body leaves `__annotate_func__`, a
    # function computing its annotations, instead of an `__annotations__` dict
    # (unless the module has `from __future__ import annotations`). Built by hand
    # here, so this interpreter takes the same path; tests/pyodide runs a real 3.14.
    def body(ns: dict[str, Any]) -> None:
        ns["__module__"] = __name__
        ns["__annotate_func__"] = lambda fmt: {"text": str, "count": int}
        ns["count"] = 0

    Ask: type[TaggedStruct] = types.new_class("Ask", (TaggedStruct,), {"tag": "chat.ask"}, body)
    assert set(Ask.model_fields) == {"text", "count", "tag_"}
    msg: TaggedStruct = Schema.union(Ask).validate_json('{"_tag": "chat.ask", "text": "hi"}')
    assert msg.model_dump(by_alias=True) == {"text": "hi", "count": 0, "_tag": "chat.ask"}
    with pytest.raises(ValidationError):
        Schema.union(Ask).validate_json('{"_tag": "chat.ask"}')
