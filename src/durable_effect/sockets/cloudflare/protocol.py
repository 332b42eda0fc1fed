"""The small JSON protocol between a client (a Worker, or another Durable
Object) and a room's Durable Object, over the stub's `fetch`.

    POST https://rooms.internal/{room}/{id}/{op}     body: JSON arguments
      op: send {"value"} | get_state | get_connections {"tag"} | broadcast {"value"} | fire_alarm
    GET  https://rooms.internal/{room}/{id}/upgrade  (the client's WebSocket upgrade request,
                                                      options in the `x-durable-effect-upgrade` header:
                                                      base64url of their JSON, so no header parsing
                                                      (a runtime splitting values at commas) changes them)

Answers: 200 `{"ok": result}`, 101 with the WebSocket, or an error status with
`{"error": {"_tag": ..., fields...}}` that the client turns back into the typed
error (`RoomError`, `RoomValidationError`, `RoomExecutionError` with its
cause, `BroadcastError`, `RoomNotFoundError`, `UpgradeError`).
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import json
import sys
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

from pydantic import BaseModel

from durable_effect.effect import TaggedError
from durable_effect.sockets.api import ConnectionInit, UpgradeOpts
from durable_effect.sockets.errors import (
    BroadcastError,
    RoomError,
    RoomExecutionError,
    RoomNotFoundError,
    RoomValidationError,
    SendError,
    UpgradeError,
)

__all__ = [
    "BASE_URL",
    "OPS",
    "UPGRADE_HEADER",
    "RemoteError",
    "decode_error",
    "decode_upgrade_opts",
    "encode_error",
    "encode_upgrade_opts",
    "op_url",
    "parse_op_url",
    "status_for",
]

BASE_URL: Final = "https://rooms.internal"
UPGRADE_HEADER: Final = "x-durable-effect-upgrade"
OPS: Final = frozenset({"send", "get_state", "get_connections", "broadcast", "fire_alarm", "upgrade"})


class RemoteError(Exception):
    """A handler's exception whose class could not be rebuilt on the caller's side."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


def op_url(room: str, id: str, op: str) -> str:
    return f"{BASE_URL}/{quote(room, safe='')}/{quote(id, safe='')}/{op}"


def parse_op_url(url: str) -> tuple[str, str, str] | None:
    """(room, id, op) of a protocol URL, or None."""
    parts = urlsplit(url).path.strip("/").split("/")
    if len(parts) != 3 or parts[2] not in OPS:
        return None
    return unquote(parts[0]), unquote(parts[1]), parts[2]


# -- upgrade options ---------------------------------------------------------------------


def encode_upgrade_opts(opts: UpgradeOpts[BaseModel]) -> str:
    """The upgrade options as a header value: base64url of their JSON (the Durable
    Object validates them); `meta` must be JSON."""
    init = opts.connection
    state = init.initial_state
    try:
        data = _encode_upgrade(init, state, opts)
    except (TypeError, ValueError) as exc:
        raise UpgradeError(f"upgrade options must be JSON (meta, initial_state): {exc}", 400) from None
    return base64.urlsafe_b64encode(data.encode()).decode("ascii")


def _encode_upgrade(init: ConnectionInit[BaseModel], state: object, opts: UpgradeOpts[BaseModel]) -> str:
    return json.dumps(
        {
            "id": init.id,
            "tags": list(init.tags) if not isinstance(init.tags, str) else init.tags,
            "meta": None if init.meta is None else dict(init.meta),
            "initial_state": state.model_dump(mode="json", by_alias=True) if isinstance(state, BaseModel) else state,
            "on_duplicate": opts.on_duplicate,
        },
        separators=(",", ":"),
    )


def decode_upgrade_opts(raw: str | None) -> UpgradeOpts[Any]:
    """The options of an upgrade (the engine validates the state and tags)."""
    if not raw:
        raise UpgradeError(f"the upgrade request has no {UPGRADE_HEADER} header", 400)
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode("ascii")))
        init = ConnectionInit(
            initial_state=data["initial_state"],
            id=data.get("id"),
            tags=data.get("tags") or (),
            meta=data.get("meta"),
        )
        on_duplicate = data.get("on_duplicate", "allow")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # binascii.Error is a ValueError
        raise UpgradeError(f"unreadable upgrade options: {exc}", 400) from None
    if on_duplicate not in ("allow", "replace", "reject"):
        raise UpgradeError(f"on_duplicate must be allow, replace or reject, got {on_duplicate!r}", 400)
    return UpgradeOpts(init, on_duplicate=on_duplicate)


# -- errors ----------------------------------------------------------------------------------


def status_for(err: BaseException) -> int:
    if isinstance(err, UpgradeError):
        return err.status
    if isinstance(err, RoomValidationError):
        return 422
    if isinstance(err, RoomNotFoundError):
        return 404
    return 500


def encode_error(err: BaseException) -> dict[str, object]:
    """The JSON form of an error a room operation raised."""
    if isinstance(err, RoomExecutionError):
        return {"_tag": "RoomExecutionError", "message": err.message, "cause": _encode_cause(err.cause)}
    if isinstance(err, BroadcastError):
        return {
            "_tag": "BroadcastError",
            "delivered": err.delivered,
            "failures": [{"connection_id": f.connection_id, "message": f.message} for f in err.failures],
        }
    if isinstance(err, RoomNotFoundError):
        return {"_tag": "RoomNotFoundError", "name": err.name}
    if isinstance(err, UpgradeError):
        return {"_tag": "UpgradeError", "message": err.message, "status": err.status}
    if isinstance(err, RoomValidationError):
        return {"_tag": "RoomValidationError", "message": err.message, "raw": err.raw}
    if isinstance(err, RoomError):
        return {"_tag": "RoomError", "message": err.message}
    return {"_tag": "RoomExecutionError", "message": f"the room failed: {err!r}", "cause": _encode_cause(err)}


def decode_error(status: int, body: str) -> TaggedError:
    """The typed error of an error answer (a `RoomError` when the body is not one)."""
    try:
        data = json.loads(body)["error"]
        tag = data["_tag"]
        if tag == "RoomExecutionError":
            return RoomExecutionError(str(data["message"]), _decode_cause(data.get("cause")))
        if tag == "BroadcastError":
            failures = [SendError(str(f["connection_id"]), str(f["message"])) for f in data["failures"]]
            return BroadcastError(failures, int(data["delivered"]))
        if tag == "RoomNotFoundError":
            return RoomNotFoundError(str(data["name"]))
        if tag == "UpgradeError":
            return UpgradeError(str(data["message"]), int(data.get("status", status)))
        if tag == "RoomValidationError":
            return RoomValidationError(str(data["message"]), str(data.get("raw", "")))
        if tag == "RoomError":
            return RoomError(str(data["message"]))
    except (ValueError, KeyError, TypeError):
        pass
    return RoomError(f"the room answered {status}: {body[:200]}")


def _encode_cause(cause: BaseException | None) -> dict[str, object] | None:
    """A handler's exception: its class, and either its dataclass fields or its args,
    when they are JSON. Both ends run the same code, so the class is rebuilt there."""
    if cause is None:
        return None
    kind = type(cause)
    encoded: dict[str, object] = {"type": f"{kind.__module__}:{kind.__qualname__}", "message": str(cause)}
    try:
        if isinstance(cause, TaggedError) and dataclasses.is_dataclass(cause):
            fields = {f.name: getattr(cause, f.name) for f in dataclasses.fields(cause)}
            json.dumps(fields)
            encoded["fields"] = fields
        else:
            json.dumps(list(cause.args))
            encoded["args"] = list(cause.args)
    except (TypeError, ValueError):
        pass
    return encoded


def _decode_cause(data: object) -> BaseException | None:
    if not isinstance(data, dict):
        return None
    type_name = str(data.get("type", "Exception"))
    message = str(data.get("message", ""))
    kind = _exception_class(type_name)
    try:
        if kind is not None and isinstance(data.get("fields"), dict):
            return kind(**data["fields"])
        if kind is not None and isinstance(data.get("args"), list):
            return kind(*data["args"])
    except Exception:  # the class changed shape between the two ends
        pass
    return RemoteError(type_name, message)


def _exception_class(type_name: str) -> type[BaseException] | None:
    """The class named `module:qualname`, from modules already loaded (never imports)."""
    module_name, _, qualname = type_name.partition(":")
    target: object = builtins if module_name == "builtins" else sys.modules.get(module_name)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if isinstance(target, type) and issubclass(target, Exception):
        return target
    return None
