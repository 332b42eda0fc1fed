"""The wire contract of rooms, exported from their declarations.

`room_schemas(room)` gives the JSON Schema (pydantic's, by alias) of what a
client sends (`event`) and what the server sends (`broadcast`, and the
`connection` and `state` models the HTTP API returns). `typescript(rooms)`
turns them into a `.d.ts`: one discriminated union per room and direction,

    export type ChatEvent = { _tag: "Say"; text: string } | { _tag: "Typing" };

plus a `ChatRoom` interface that types the browser client
(`connect<ChatRoom>(...)`). `durable-effect schema MODULE:ATTR` prints either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from durable_effect.sockets.registry import SocketConfig, SocketRegistry
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.schema import TAG_FIELD, UnionSchema

__all__ = ["JsonSchema", "room_schemas", "rooms_of", "schemas", "type_name", "typescript"]

JsonSchema = dict[str, Any]
"""A JSON Schema document (JSON values: Any is the honest type)."""

AnyRoom = WebSocketRoom[Any, Any, Any, Any]
Kind = Literal["event", "broadcast", "connection", "state"]
KINDS: tuple[Kind, ...] = ("event", "broadcast", "connection", "state")


def rooms_of(target: object) -> list[AnyRoom]:
    """The rooms a `WebSocketRoom`, `SocketRegistry`, `SocketConfig` or server declares."""
    if isinstance(target, WebSocketRoom):
        return [target]
    if isinstance(target, SocketRegistry | SocketConfig):
        return list(target.rooms.values())
    config = getattr(target, "config", None)  # a SocketServer
    if isinstance(config, SocketConfig):
        return list(config.rooms.values())
    raise TypeError(f"expected a WebSocketRoom, SocketRegistry, SocketConfig or SocketServer, got {target!r}")


def _adapter(model: type[BaseModel] | UnionSchema[Any]) -> TypeAdapter[Any]:
    return model.adapter if isinstance(model, UnionSchema) else TypeAdapter(model)


def _objects(schema: JsonSchema) -> Iterable[JsonSchema]:
    """Every object schema in a document: the top level and its `$defs`."""
    yield schema
    yield from schema.get("$defs", {}).values()


def room_schemas(room: AnyRoom) -> dict[Kind, JsonSchema]:
    """The JSON Schema of each message kind of `room`, with wire (alias) names.

    `_tag` is required (the server's union needs it). What the server sends
    carries every field, so there every property is required."""
    out: dict[Kind, JsonSchema] = {}
    for kind in KINDS:
        sent_by_server = kind != "event"
        schema = _adapter(getattr(room, kind)).json_schema(
            by_alias=True, mode="serialization" if sent_by_server else "validation"
        )
        for obj in _objects(schema):
            props = obj.get("properties")
            if not isinstance(props, dict):
                continue
            required = list(props) if sent_by_server else list(obj.get("required", []))
            if TAG_FIELD in props and TAG_FIELD not in required:
                required.insert(0, TAG_FIELD)
            if required:
                obj["required"] = required
        out[kind] = schema
    return out


def schemas(rooms: Iterable[AnyRoom]) -> dict[str, dict[Kind, JsonSchema]]:
    """`{room name: room_schemas(room)}`."""
    return {room.name: room_schemas(room) for room in rooms}


# -- TypeScript ------------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def type_name(room_name: str) -> str:
    """`"chat"` -> `"Chat"`, `"chat-room"` -> `"ChatRoom"`: the prefix of a room's types."""
    words = re.split(r"[^A-Za-z0-9]+", room_name)
    name = "".join(w[:1].upper() + w[1:] for w in words if w)
    if not name or name[0].isdigit():
        name = "Room" + name
    return name


class _TypeScript:
    """JSON Schema (as pydantic writes it) to a TypeScript type expression."""

    def __init__(self, document: JsonSchema) -> None:
        self.defs: Mapping[str, JsonSchema] = document.get("$defs", {})
        self.expanding: set[str] = set()

    def type_of(self, schema: JsonSchema | bool) -> str:
        if schema is True or schema == {}:
            return "unknown"
        if schema is False:
            return "never"
        assert isinstance(schema, dict)
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name in self.expanding:  # a recursive model: stop here
                return "unknown"
            self.expanding.add(name)
            try:
                return self.type_of(self.defs[name])
            finally:
                self.expanding.discard(name)
        if "const" in schema:
            return json.dumps(schema["const"])
        if "enum" in schema:
            return " | ".join(json.dumps(v) for v in schema["enum"])
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return " | ".join(self.type_of(s) for s in schema[key])
        if "allOf" in schema:
            return " & ".join(self.type_of(s) for s in schema["allOf"])
        kind = schema.get("type")
        if isinstance(kind, list):
            return " | ".join(self.type_of({**schema, "type": k}) for k in kind)
        if kind == "object" or "properties" in schema:
            return self.object_type(schema)
        if kind == "array":
            if "prefixItems" in schema:
                return "[" + ", ".join(self.type_of(s) for s in schema["prefixItems"]) + "]"
            return f"Array<{self.type_of(schema.get('items', True))}>"
        simple = {"string": "string", "number": "number", "integer": "number", "boolean": "boolean", "null": "null"}
        return simple.get(kind, "unknown") if isinstance(kind, str) else "unknown"

    def object_type(self, schema: JsonSchema) -> str:
        props: dict[str, JsonSchema] = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields: list[str] = []
        for name in sorted(props, key=lambda n: n != TAG_FIELD):  # `_tag` first
            key = name if _IDENT.match(name) else json.dumps(name)
            optional = "" if name in required else "?"
            fields.append(f"{key}{optional}: {self.type_of(props[name])}")
        extra = schema.get("additionalProperties")
        if extra not in (None, False):
            value = self.type_of(extra)
            fields.append(f"[key: string]: {value}" if not props else f"[key: string]: {value} | undefined")
        if not fields:
            return "Record<string, never>"
        return "{ " + "; ".join(fields) + " }"


def typescript(rooms: Iterable[AnyRoom]) -> str:
    """A `.d.ts` with each room's `Event`, `Broadcast`, `Connection`, `State` and `Room` types."""
    lines = [
        "// Generated by `durable-effect schema --typescript` from the room declarations; do not edit.",
        "",
    ]
    for room in rooms:
        prefix = type_name(room.name)
        for kind, schema in room_schemas(room).items():
            ts = _TypeScript(schema)
            if "oneOf" in schema:
                members = [ts.type_of(s) for s in schema["oneOf"]]
                body = "".join(f"\n  | {m}" for m in members)
            else:
                body = " " + ts.type_of(schema)
            lines.append(f"export type {prefix}{kind.capitalize()} ={body};")
        lines += [
            f"export interface {prefix}Room {{",
            f"  name: {json.dumps(room.name)};",
            f"  event: {prefix}Event;",
            f"  broadcast: {prefix}Broadcast;",
            f"  connection: {prefix}Connection;",
            f"  state: {prefix}State;",
            "}",
            "",
        ]
    return "\n".join(lines)
