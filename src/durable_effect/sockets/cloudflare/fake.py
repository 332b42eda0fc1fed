"""A fake of the Durable Object runtime, for fast tests on CPython.

`FakeCloudflare` plays the platform for one Worker: Durable Object namespaces
(`idFromName`, `get`, stubs whose `fetch` reaches the object), each object's
`ctx` (`acceptWebSocket`, `getWebSockets`, `getTags`, `id.name`), its storage
(string values, one alarm, `deleteAll` that leaves the alarm, as before the
2026-02-24 compatibility date), requests to an object whose header values are
split at commas (as runtimes before early 2026 did), hibernatable WebSockets (attachments, ready
states, the close handshake) and alarms with the platform's retries (backoff
from 2 s, up to 6, with `retryCount`/`isRetry`). `hibernate(name)` throws the
object away; the next event constructs a new one over the same sockets and
storage, as the platform does after hibernation.

`install_fake_modules()` puts stand-ins for `js`, `pyodide`, `pyodide.ffi`,
`workers` and `workers.asgi` into `sys.modules`, strict where the real ones are: a Python
list or dict passed where JavaScript wants an array or object is refused.
They are as small as the adapter and the examples need; this is not Pyodide.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import sys
import time
import types
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from durable_effect.effect import TestClock
from durable_effect.sockets.engine import ALARM_MAX_RETRIES, alarm_backoff_ms
from durable_effect.sockets.limits import structured_clone_size

__all__ = [
    "ArrayBuffer",
    "FakeCloudflare",
    "FakeNamespace",
    "FakeRequest",
    "FakeResponse",
    "FakeWebSocket",
    "JsArray",
    "JsObject",
    "install_fake_modules",
    "uninstall_fake_modules",
]

T = TypeVar("T")

CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3
MAX_TAGS = 10
MAX_TAG_LENGTH = 256
MAX_ATTACHMENT_BYTES = 16_384
MAX_SOCKETS = 32_768
MAX_PUT_ENTRIES = 128
UNSENDABLE_CLOSE_CODES = frozenset({1004, 1005, 1006, 1015})


class JsError(Exception):
    """A JavaScript exception thrown by the fake platform."""


# -- JavaScript values --------------------------------------------------------------------------


class JsArray(list[Any]):
    """A JavaScript array (what `to_js` makes of a list)."""


class JsObject(dict[str, Any]):
    """A plain JavaScript object (`to_js(d, dict_converter=Object.fromEntries)`)."""


class JsMap(dict[Any, Any]):
    """A JavaScript `Map` (what `to_js` makes of a dict by default)."""


class ArrayBuffer:
    """A binary WebSocket message as Python receives it: a proxy with `to_bytes()`."""

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)

    def to_bytes(self) -> bytes:
        return self._data

    @property
    def byteLength(self) -> int:
        return len(self._data)


def to_js(obj: object, /, *, dict_converter: Callable[[Iterable[Any]], Any] | None = None, **_: object) -> Any:
    """`pyodide.ffi.to_js`: lists become arrays, dicts `Map`s unless a converter is given."""
    if isinstance(obj, list | tuple):
        return JsArray(to_js(x, dict_converter=dict_converter) for x in obj)
    if isinstance(obj, dict):
        pairs = [(k, to_js(v, dict_converter=dict_converter)) for k, v in obj.items()]
        return dict_converter(pairs) if dict_converter is not None else JsMap(pairs)
    return obj


def _from_entries(entries: Iterable[Any]) -> JsObject:
    return JsObject((str(k), v) for k, v in entries)


class _Headers:
    """A JavaScript `Headers` (case-insensitive names)."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        pairs = items.items() if isinstance(items, Mapping) else (items or ())
        self._items = {k.lower(): v for k, v in pairs}

    def get(self, name: str) -> str | None:
        return self._items.get(name.lower())

    def set(self, name: str, value: str) -> None:
        self._items[name.lower()] = str(value)

    def has(self, name: str) -> bool:
        return name.lower() in self._items

    def copy(self) -> _Headers:
        return _Headers(self._items)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items.items())


class FakeRequest:
    """A JavaScript `Request`: url, method, headers, a text body."""

    def __init__(
        self,
        url: str,
        method: str = "GET",
        headers: Mapping[str, str] | _Headers | None = None,
        body: str | None = None,
    ) -> None:
        self.url = url
        self.method = method
        self.headers = headers.copy() if isinstance(headers, _Headers) else _Headers(headers)
        self._body = body

    @staticmethod
    def new(url: str, init: object = None, **kwargs: Any) -> FakeRequest:
        """`new Request(url, init)`: `init` may be another request or a plain object."""
        if isinstance(init, FakeRequest):
            return FakeRequest(url, init.method, init.headers, init._body)
        options: Mapping[str, Any] = init if isinstance(init, JsObject) else kwargs
        return FakeRequest(url, str(options.get("method", "GET")), options.get("headers"), options.get("body"))

    async def text(self) -> str:
        return self._body or ""

    async def json(self) -> Any:
        return json.loads(await self.text())


class FakeResponse:
    """A Workers `Response` (`workers.Response` and the JavaScript one at once)."""

    def __init__(
        self,
        body: str | bytes | None = None,
        status: int | None = None,
        status_text: str = "",
        headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
        web_socket: Any = None,
    ) -> None:
        if status == 101 and web_socket is None:
            raise JsError("RangeError: a 101 response needs a webSocket")
        self.status = 200 if status is None else status
        self.headers = _Headers(headers)
        self.webSocket = web_socket
        self._body = body.decode() if isinstance(body, bytes) else (body or "")

    @staticmethod
    def json(data: object, status: int = 200, status_text: str = "", headers: Mapping[str, str] | None = None) -> Any:
        headers = {"content-type": "application/json", **(headers or {})}
        return FakeResponse(json.dumps(data), status, status_text, headers)

    @property
    def js_object(self) -> FakeResponse:
        return self

    async def text(self) -> str:
        return self._body


# -- WebSockets ------------------------------------------------------------------------------


class FakeWebSocket:
    """One end of a `WebSocketPair`. The server end is accepted by a Durable Object;
    the client end is what a test drives."""

    def __init__(self, world: FakeCloudflare | None, role: str) -> None:
        self._world = world
        self.role = role
        self.peer: FakeWebSocket | None = None
        self.readyState = OPEN
        self.frames: list[str] = []  # what this end received
        self.close_code: int | None = None  # the close frame this end received
        self.close_reason = ""
        self.fail_sends = False
        self.closes: list[tuple[int, str]] = []  # every close() called on this end
        self._peer_closed_first = False
        self.answer_closes = True  # a client end: answer a server's close at once
        # the server end, once accepted
        self.owner: tuple[str, str] | None = None  # (binding, object name)
        self.tags: list[str] = []
        self._attachment: object = None

    def send(self, message: object) -> None:
        if self.readyState != OPEN:
            raise JsError("InvalidStateError: WebSocket is not open")
        if self.fail_sends:
            raise JsError("Error: simulated send failure")
        peer = self.peer
        assert peer is not None
        if peer.readyState != OPEN:
            return
        if peer.role == "client":
            peer.frames.append(str(message))
        elif self._world is not None:
            self._world.queue_message(peer, message)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closes.append((code, reason))
        if code in UNSENDABLE_CLOSE_CODES or not 1000 <= code <= 4999:
            raise JsError(f"InvalidAccessError: close code {code} cannot be sent")
        if len(reason.encode()) > 123:
            raise JsError("SyntaxError: a close reason is at most 123 bytes")
        peer = self.peer
        assert peer is not None
        if self.readyState == CLOSING and self._peer_closed_first:
            # The answer to the peer's close: the handshake is complete.
            self.readyState = peer.readyState = CLOSED
            peer.close_code, peer.close_reason = code, reason
            if peer.role == "server" and self._world is not None:
                self._world.queue_close(peer, code, reason)  # the server hears the client's answer
            return
        if self.readyState != OPEN:
            return
        self.readyState = CLOSING
        peer._close_frame(code, reason)

    def _close_frame(self, code: int, reason: str) -> None:
        """A close frame from the peer reached this end."""
        peer = self.peer
        assert peer is not None
        self._peer_closed_first = True
        if self.role == "client":
            self.close_code, self.close_reason = code, reason
            self.readyState = CLOSING
            if self.answer_closes:
                # A client answers at once; the server end hears that as webSocketClose.
                self.close(code, reason)
        else:
            # The client started the close: the Durable Object has to answer it.
            self.readyState = CLOSING
            if self._world is not None:
                self._world.queue_close(self, code, reason)

    def drop(self) -> None:
        """The connection is lost without a close frame (a client end only): the
        server end hears `webSocketClose` with 1006 and is left closing."""
        peer = self.peer
        assert peer is not None and self.role == "client"
        self.readyState = CLOSED
        peer.readyState = CLOSING
        peer._peer_closed_first = True
        if self._world is not None:
            self._world.queue_close(peer, 1006, "", clean=False)

    def serializeAttachment(self, value: object) -> None:
        if isinstance(value, dict | list | tuple | set):
            raise JsError("DataCloneError: a Python object is not structured-cloneable (pass a string)")
        size = structured_clone_size(value if isinstance(value, str) else json.dumps(value))
        if size > MAX_ATTACHMENT_BYTES:
            raise JsError(f"RangeError: 'attachment' was {size} bytes, over the {MAX_ATTACHMENT_BYTES}-byte limit")
        self._attachment = value

    def deserializeAttachment(self) -> object:
        return self._attachment


class _WebSocketPair:
    def __init__(self, world: FakeCloudflare | None) -> None:
        self.client = FakeWebSocket(world, "client")
        self.server = FakeWebSocket(world, "server")
        self.client.peer, self.server.peer = self.server, self.client

    def object_values(self) -> JsArray:
        return JsArray([self.client, self.server])


# -- a Durable Object's state ----------------------------------------------------------------------


@dataclass
class AlarmInfo:
    retryCount: int
    isRetry: bool


@dataclass
class ObjectData:
    """What outlives a Durable Object instance: its storage, alarm and sockets."""

    binding: str
    name: str
    data: dict[str, str] = field(default_factory=dict)
    alarm: float | None = None
    retries: int = 0
    sockets: list[FakeWebSocket] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # storage methods called, in order
    fail_writes: bool = False  # every write raises, as when storage is unavailable
    max_sockets: int = MAX_SOCKETS  # acceptWebSocket throws beyond it (tests lower it)


class FakeStorage:
    """`ctx.storage`: awaitable methods; values are strings (what the adapter stores)."""

    def __init__(self, obj: ObjectData) -> None:
        self._obj = obj

    def _check_writable(self) -> None:
        if self._obj.fail_writes:
            raise JsError("Error: Durable Object storage operation failed (simulated)")

    async def get(self, key: str) -> str | None:
        self._obj.calls.append("get")
        if not isinstance(key, str):
            raise JsError("TypeError: get() takes a key string here")
        return self._obj.data.get(key)

    async def put(self, key_or_entries: object, value: object = None) -> None:
        self._obj.calls.append("put")
        self._check_writable()
        if isinstance(key_or_entries, str):
            entries: Mapping[str, object] = {key_or_entries: value}
        elif isinstance(key_or_entries, JsObject):
            entries = key_or_entries
        else:
            raise JsError(f"TypeError: put() needs a key or a JavaScript object, got {type(key_or_entries).__name__}")
        if len(entries) > MAX_PUT_ENTRIES:
            raise JsError(f"RangeError: put() of more than {MAX_PUT_ENTRIES} keys")
        for k, v in entries.items():
            if not isinstance(v, str):
                raise JsError(f"TypeError: the fake stores strings only, got {type(v).__name__} for {k!r}")
        self._obj.data.update({k: str(v) for k, v in entries.items()})

    async def delete(self, keys: object) -> object:
        self._obj.calls.append("delete")
        self._check_writable()
        if isinstance(keys, str):
            return self._obj.data.pop(keys, None) is not None
        if not isinstance(keys, JsArray):
            raise JsError(f"TypeError: delete() needs a key or a JavaScript array, got {type(keys).__name__}")
        return sum(self._obj.data.pop(str(k), None) is not None for k in keys)

    async def deleteAll(self) -> None:
        self._obj.calls.append("deleteAll")
        self._obj.data.clear()

    async def getAlarm(self) -> float | None:
        self._obj.calls.append("getAlarm")
        return self._obj.alarm

    async def setAlarm(self, scheduled_time: object) -> None:
        self._obj.calls.append("setAlarm")
        self._check_writable()
        if isinstance(scheduled_time, bool) or not isinstance(scheduled_time, int | float):
            raise JsError("TypeError: setAlarm() needs epoch milliseconds")
        self._obj.alarm = float(scheduled_time)

    async def deleteAlarm(self) -> None:
        self._obj.calls.append("deleteAlarm")
        self._check_writable()
        self._obj.alarm = None


@dataclass
class FakeId:
    """A Durable Object id; `name` is None where the platform does not give it."""

    name: str | None
    key: str

    def toString(self) -> str:
        return self.key.encode().hex()


class FakeState:
    """`ctx` of one Durable Object instance."""

    def __init__(self, obj: ObjectData, name_visible: bool) -> None:
        self._obj = obj
        self.id = FakeId(obj.name if name_visible else None, obj.name)
        self.storage = FakeStorage(obj)

    def acceptWebSocket(self, ws: FakeWebSocket, tags: object = None) -> None:
        if tags is not None and not isinstance(tags, JsArray):
            raise JsError(f"TypeError: tags must be a JavaScript array, got {type(tags).__name__}")
        tag_list = [str(t) for t in (tags or ())]
        if len(tag_list) > MAX_TAGS:
            raise JsError(f"Error: a WebSocket can have at most {MAX_TAGS} tags")
        if any(not 1 <= len(t) <= MAX_TAG_LENGTH for t in tag_list):
            raise JsError(f"Error: a tag is 1..{MAX_TAG_LENGTH} characters")
        if ws.role != "server" or ws.owner is not None:
            raise JsError("Error: not the server end of a new WebSocketPair")
        if len([s for s in self._obj.sockets if s.readyState != CLOSED]) >= self._obj.max_sockets:
            raise JsError(f"Error: more than {self._obj.max_sockets} WebSockets on one Durable Object")
        ws.owner = (self._obj.binding, self._obj.name)
        ws.tags = tag_list
        self._obj.sockets.append(ws)

    def getWebSockets(self, tag: str | None = None) -> JsArray:
        # Like the platform, closing sockets are listed too (only closed ones are gone).
        return JsArray(s for s in self._obj.sockets if s.readyState != CLOSED and (tag is None or tag in s.tags))

    def getTags(self, ws: FakeWebSocket) -> JsArray:
        return JsArray(ws.tags)


# -- namespaces, stubs and the platform -------------------------------------------------------------


def _split_header_values(request: FakeRequest) -> FakeRequest:
    """The request as a runtime that splits header values at commas hands it on
    (Workers before early 2026): each header keeps only its first piece."""
    headers = _Headers((k, v.split(",")[0]) for k, v in request.headers.items())
    return FakeRequest(request.url, request.method, headers, request._body)


class FakeStub:
    def __init__(self, namespace: FakeNamespace, name: str) -> None:
        self._namespace = namespace
        self._name = name

    async def fetch(self, resource: object, /, **init: str) -> FakeResponse:
        if isinstance(resource, FakeRequest):
            request = resource
        else:
            request = FakeRequest(str(resource), init.get("method", "GET"), None, init.get("body"))
        name = self._name
        if self._namespace.world.split_header_values:
            request = _split_header_values(request)

        async def call(do: Any) -> FakeResponse:
            response = await do.fetch(request)
            if not isinstance(response, FakeResponse):
                raise JsError(f"TypeError: fetch() of a Durable Object returned {type(response).__name__}")
            return response

        return await self._namespace.world.call(self._namespace.binding, name, call)


class FakeNamespace:
    """A Durable Object namespace binding."""

    def __init__(self, world: FakeCloudflare, binding: str, do_class: type) -> None:
        self.world = world
        self.binding = binding
        self.do_class = do_class

    def idFromName(self, name: str) -> FakeId:
        return FakeId(name, name)

    def get(self, id: object, /) -> FakeStub:
        if not isinstance(id, FakeId):
            raise JsError("TypeError: get() needs a Durable Object id")
        return FakeStub(self, id.key)


class FakeEnv:
    """A Worker's `env`: namespace bindings and plain variables as attributes."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only called for bindings that are missing
        raise AttributeError(name)

    def __setattr__(self, name: str, value: object) -> None:
        self.__dict__[name] = value


_ACTIVE: contextvars.ContextVar[FakeCloudflare | None] = contextvars.ContextVar("fake_cloudflare", default=None)
_LAST: list[FakeCloudflare] = []


def _now_ms() -> float:
    world = _ACTIVE.get() or (_LAST[-1] if _LAST else None)
    return world.clock.now_ms() if world is not None else time.time() * 1_000.0


class FakeCloudflare:
    """The platform for one Worker: its namespaces, objects, sockets and alarms."""

    def __init__(
        self, clock: TestClock, *, alarm_wake_without_name: bool = True, split_header_values: bool = True
    ) -> None:
        self.clock = clock
        self.env = FakeEnv()
        self.alarm_wake_without_name = alarm_wake_without_name
        self.split_header_values = split_header_values
        self.namespaces: dict[str, FakeNamespace] = {}
        self.objects: dict[tuple[str, str], ObjectData] = {}
        self.live: dict[tuple[str, str], Any] = {}  # the Durable Object instances in memory
        self.constructed = 0
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._pending: list[Awaitable[None]] = []
        _LAST[:] = [self]  # js.Date and WebSocketPair outside any event use the newest

    def bind(self, binding: str, do_class: type) -> FakeNamespace:
        namespace = FakeNamespace(self, binding, do_class)
        self.namespaces[binding] = namespace
        self.env.__dict__[binding] = namespace
        return namespace

    def websocket_pair(self) -> _WebSocketPair:
        return _WebSocketPair(self)

    def object_data(self, binding: str, name: str) -> ObjectData:
        key = (binding, name)
        if key not in self.objects:
            self.objects[key] = ObjectData(binding, name)
        return self.objects[key]

    def instance(self, binding: str, name: str, *, for_alarm: bool = False) -> Any:
        """The object's Durable Object instance, constructed if it is not in memory."""
        key = (binding, name)
        do = self.live.get(key)
        if do is None:
            name_visible = not (for_alarm and self.alarm_wake_without_name)
            ctx = FakeState(self.object_data(binding, name), name_visible)
            do = self.live[key] = self.namespaces[binding].do_class(ctx, self.env)
            self.constructed += 1
        return do

    def hibernate(self, binding: str, name: str) -> bool:
        """Throw the object's instance away; its sockets and storage stay."""
        return self.live.pop((binding, name), None) is not None

    async def call(self, binding: str, name: str, fn: Callable[[Any], Awaitable[T]], *, for_alarm: bool = False) -> T:
        """Deliver one event to the object, constructing it first if it is not in
        memory. Each event runs in a context of its own, like a request: nothing
        flows into it from the caller."""

        async def run() -> T:
            _ACTIVE.set(self)
            return await fn(self.instance(binding, name, for_alarm=for_alarm))

        task = asyncio.get_running_loop().create_task(run(), context=contextvars.Context())
        return await task

    # -- socket events ------------------------------------------------------------------------

    def message_event(self, server: FakeWebSocket, message: str | bytes) -> Awaitable[None]:
        """`webSocketMessage` for a client frame (binary frames arrive as an ArrayBuffer)."""
        assert server.owner is not None
        data = ArrayBuffer(message) if isinstance(message, bytes) else message
        return self.call(*server.owner, lambda do: do.webSocketMessage(server, data))

    def queue_message(self, server: FakeWebSocket, message: object) -> None:
        self._pending.append(self.message_event(server, message if isinstance(message, bytes) else str(message)))

    def queue_close(self, server: FakeWebSocket, code: int, reason: str, *, clean: bool = True) -> None:
        """A close frame reached the server end: `webSocketClose` is delivered next."""
        owner = server.owner
        if owner is not None:
            self._pending.append(self.call(*owner, lambda do: do.webSocketClose(server, code, reason, clean)))

    def discard_pending(self) -> None:
        """Drop the socket events still queued."""
        for event in self._pending:
            close = getattr(event, "close", None)
            if callable(close):
                close()
        self._pending.clear()

    async def settle(self) -> None:
        """Deliver every queued socket event, in order (and the events they cause)."""
        while self._pending:
            await self._pending.pop(0)

    # -- alarms -----------------------------------------------------------------------------

    async def advance(self, millis: float) -> int:
        """Move the clock, running each alarm that comes due (failed ones retried
        with backoff from 2 s, up to 6 times). Gives the number of alarm runs."""
        target = self.clock.now_ms() + millis
        fired = 0
        while True:
            due = [(o.alarm, key) for key, o in self.objects.items() if o.alarm is not None and o.alarm <= target]
            if not due:
                break
            at, key = min(due)
            if await self.clock.wake_next(at):  # a sleeper came first: look at the alarms afresh
                await self.settle()
                continue
            obj = self.objects[key]
            self.clock.set_time(max(at, self.clock.now_ms()))
            obj.alarm = None  # the platform deletes an alarm as it runs it
            info = AlarmInfo(obj.retries, obj.retries > 0)
            fired += 1

            async def run_alarm(do: Any, info: AlarmInfo = info) -> None:
                await do.alarm(info)

            try:
                await self.call(key[0], key[1], run_alarm, for_alarm=True)
            except Exception:
                if obj.retries < ALARM_MAX_RETRIES and obj.alarm is None:
                    obj.retries += 1
                    obj.alarm = self.clock.now_ms() + alarm_backoff_ms(obj.retries)
                else:
                    obj.retries = 0
            else:
                obj.retries = 0
            await self.settle()
        await self.clock.wake_until(target)
        await self.settle()
        return fired


# -- the stand-in modules ------------------------------------------------------------------------------


class _DurableObject:
    """`workers.DurableObject`."""

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


class _WorkerEntrypoint:
    """`workers.WorkerEntrypoint`."""

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


class _Namespace(types.SimpleNamespace):
    pass


async def _asgi_fetch(app: Any, req: Any, env: Any, ctx: Any = None) -> FakeResponse:
    """`workers.asgi.fetch`: one HTTP request through an ASGI app (no streaming, no lifespan)."""
    url = urlsplit(str(req.url))
    body = (await req.text()).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
        "http_version": "1.1",
        "method": str(req.method),
        "scheme": url.scheme,
        "path": unquote(url.path),
        "raw_path": url.path.encode(),
        "query_string": url.query.encode(),
        "headers": [(k.encode(), v.encode()) for k, v in req.headers._items.items()],
        "env": env,
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status, headers, chunks = 500, [], []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = [(k.decode(), v.decode()) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope, receive, send)
    return FakeResponse(b"".join(chunks), status, "", headers)


def _module(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def _new_pair() -> _WebSocketPair:
    return _WebSocketPair(_ACTIVE.get() or (_LAST[-1] if _LAST else None))


def _make_modules() -> dict[str, types.ModuleType]:
    ffi = _module("pyodide.ffi", to_js=to_js, JsException=JsError)
    asgi = _module("workers.asgi", fetch=_asgi_fetch)
    return {
        "js": _module(
            "js",
            Object=_Namespace(fromEntries=_from_entries),
            Date=_Namespace(now=_now_ms),
            Request=_Namespace(new=FakeRequest.new),
            Headers=_Namespace(new=_Headers),
            Response=_Namespace(new=FakeResponse),
            WebSocketPair=_Namespace(new=_new_pair),
        ),
        "pyodide": _module("pyodide", __path__=[], __version__="fake", ffi=ffi),
        "pyodide.ffi": ffi,
        "workers.asgi": asgi,
        "workers": _module(
            "workers",
            __path__=[],
            asgi=asgi,
            DurableObject=_DurableObject,
            WorkerEntrypoint=_WorkerEntrypoint,
            Response=FakeResponse,
            Request=FakeRequest,
        ),
    }


_MODULES = _make_modules()
_installed: list[dict[str, types.ModuleType | None]] = []


def install_fake_modules() -> None:
    """Put the stand-in `js`, `pyodide`, `pyodide.ffi` and `workers` into `sys.modules`
    (nested calls are counted; `uninstall_fake_modules` undoes one)."""
    _installed.append({name: sys.modules.get(name) for name in _MODULES})
    sys.modules.update(_MODULES)


def uninstall_fake_modules() -> None:
    if not _installed:
        return
    previous = _installed.pop()
    if _installed:
        return
    for name, module in previous.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module
