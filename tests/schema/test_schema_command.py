"""`durable-effect schema MODULE:ATTR`: the rooms' wire contract, from their declarations."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from durable_effect.cli import main
from durable_effect.sockets import Schema, TaggedStruct, WebSocketRoom
from durable_effect.sockets.wire import JsonSchema, room_schemas, type_name, typescript
from examples.chat.registry import Chat, ChatConnection, ChatState, Message, Say, Typing, TypingBroadcast, UserJoined


def run(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["schema", *args])
    return out.getvalue()


def test_json_schema_of_every_kind_of_the_chat_room() -> None:
    chat = json.loads(run("examples.chat.registry:registry"))["chat"]
    assert sorted(chat) == ["broadcast", "connection", "event", "state"]

    # Events and broadcasts are unions discriminated by `_tag`.
    assert chat["event"]["discriminator"]["propertyName"] == "_tag"
    assert sorted(chat["event"]["discriminator"]["mapping"]) == ["Say", "Typing"]
    assert sorted(chat["broadcast"]["discriminator"]["mapping"]) == ["Message", "Typing", "UserJoined", "UserLeft"]
    say = chat["event"]["$defs"]["Say"]
    assert say["properties"]["_tag"]["const"] == "Say"
    assert say["required"] == ["_tag", "text"]

    # Wire names: the chat's aliases are camelCase.
    assert list(chat["connection"]["properties"]) == ["userId", "joinedAt"]
    assert list(chat["state"]["properties"]) == ["createdAt", "messageCount"]


def test_what_the_server_sends_has_exactly_the_schema_properties() -> None:
    schemas = room_schemas(Chat)
    sent: list[tuple[JsonSchema, BaseModel]] = [
        (schemas["connection"], ChatConnection(user_id="ann", joined_at=1.0)),
        (schemas["state"], ChatState(created_at=1.0, message_count=2)),
    ]
    for schema, model in sent:
        assert set(model.model_dump(mode="json", by_alias=True)) == set(schema["required"]) == set(schema["properties"])
    defs = schemas["broadcast"]["$defs"]
    for msg in [Message(text="hi", user_id="ann", ts=1.0), UserJoined(user_id="ann"), TypingBroadcast(user_id="ann")]:
        wire = json.loads(msg.to_json())
        member = defs[type(msg).__name__]
        assert set(wire) == set(member["required"]) == set(member["properties"]), type(msg).__name__
    for event in [Say(text="hi"), Typing()]:
        member = schemas["event"]["$defs"][type(event).__name__]
        assert set(event.to_dict()) == set(member["properties"])


def test_typescript_for_the_chat_room() -> None:
    assert run("examples.chat.registry:Chat", "--typescript").splitlines()[2:] == [
        "export type ChatEvent =",
        '  | { _tag: "Say"; text: string }',
        '  | { _tag: "Typing" };',
        "export type ChatBroadcast =",
        '  | { _tag: "Message"; text: string; userId: string; ts: number }',
        '  | { _tag: "UserJoined"; userId: string }',
        '  | { _tag: "UserLeft"; userId: string }',
        '  | { _tag: "Typing"; userId: string };',
        "export type ChatConnection = { userId: string; joinedAt: number };",
        "export type ChatState = { createdAt: number; messageCount: number };",
        "export interface ChatRoom {",
        '  name: "chat";',
        "  event: ChatEvent;",
        "  broadcast: ChatBroadcast;",
        "  connection: ChatConnection;",
        "  state: ChatState;",
        "}",
    ]


def test_a_server_function_a_config_and_a_registry_give_the_same_contract() -> None:
    by_registry = run("examples.chat.registry:registry")
    assert run("examples.chat.handlers:config") == by_registry
    assert run("examples.chat.server:make_server") == by_registry
    assert json.loads(run("examples.chat.registry:Chat")) == json.loads(by_registry)


def test_a_target_without_rooms_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run("examples.chat.registry:CAMEL")
    assert exited.value.code == 2
    assert "declares no rooms" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run("examples.chat.registry")
    assert "expected MODULE:ATTR" in capsys.readouterr().err


class Point(BaseModel):
    x: float
    y: float


class Draw(TaggedStruct, tag="Draw"):
    points: list[Point]
    color: Literal["red", "blue"] = "red"
    label: str | None = None
    weights: dict[str, int] = Field(default_factory=dict)
    pair: tuple[int, str] = (0, "")


class Drawn(TaggedStruct, tag="Drawn"):
    by: str
    stroke: Draw


class Board(BaseModel):
    strokes: int = 0


Whiteboard = WebSocketRoom.make(
    "white-board", state=Board, connection=Board, event=Schema.union(Draw), broadcast=Schema.union(Drawn)
)


def test_typescript_for_nested_optional_and_literal_fields() -> None:
    lines = typescript([Whiteboard]).splitlines()
    draw = (
        '{ _tag: "Draw"; points: Array<{ x: number; y: number }>; color: "red" | "blue"; label: string | null; '
        "weights: { [key: string]: number }; pair: [number, string] }"
    )
    optional_draw = draw.replace("color:", "color?:").replace("label:", "label?:")
    optional_draw = optional_draw.replace("weights:", "weights?:").replace("pair:", "pair?:")
    # A single-member union is that member; what a client sends may leave out defaulted fields,
    # what the server sends always has them.
    assert f"export type WhiteBoardEvent = {optional_draw};" in lines
    assert f'export type WhiteBoardBroadcast = {{ _tag: "Drawn"; by: string; stroke: {draw} }};' in lines
    assert "export type WhiteBoardState = { strokes: number };" in lines


@pytest.mark.parametrize(
    ("room", "expected"), [("chat", "Chat"), ("white-board", "WhiteBoard"), ("9lives", "Room9lives")]
)
def test_type_names(room: str, expected: str) -> None:
    assert type_name(room) == expected
