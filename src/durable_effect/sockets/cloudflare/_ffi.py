"""Every use of the Pyodide-side modules (`js`, `pyodide.ffi`, `workers`) in one place.

They exist only inside a Python Worker, so each is imported inside the
function that needs it: importing `durable_effect.sockets.cloudflare` works
on plain CPython, and a fake runtime can put stand-ins into `sys.modules`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from durable_effect.sockets.cloudflare.types import JsWebSocket

__all__ = [
    "js_array",
    "js_object",
    "json_response",
    "now_ms",
    "upgrade_request",
    "websocket_pair",
    "websocket_response",
]


def js_array(items: Sequence[str]) -> object:
    """A JavaScript array (a Python list would reach JavaScript as a proxy, not an array)."""
    from pyodide.ffi import to_js

    result: object = to_js(list(items))
    return result


def js_object(entries: Mapping[str, str]) -> object:
    """A plain JavaScript object (`to_js` of a dict gives a `Map` unless told otherwise)."""
    from js import Object
    from pyodide.ffi import to_js

    result: object = to_js(dict(entries), dict_converter=Object.fromEntries)
    return result


def now_ms() -> float:
    from js import Date

    return float(Date.now())


def websocket_pair() -> tuple[object, JsWebSocket]:
    """A new `WebSocketPair`: (client end for the response, server end to accept)."""
    from js import WebSocketPair

    client, server = WebSocketPair.new().object_values()
    return client, server


def websocket_response(client: object) -> object:
    """The 101 response that hands the client end of a pair to the caller."""
    from workers import Response

    return Response(None, status=101, web_socket=client)


def json_response(status: int, body: str) -> object:
    from workers import Response

    return Response(body, status=status, headers={"content-type": "application/json"})


def upgrade_request(url: str, source: object, headers: Mapping[str, str]) -> object:
    """A JavaScript Request for `url` carrying `source`'s method and headers (a
    WebSocket upgrade keeps its `Upgrade` header), plus `headers`."""
    from js import Request

    original = getattr(source, "js_object", source)  # a `workers.Request` wraps the JavaScript one
    request = Request.new(url) if original is None else Request.new(url, original)
    if original is None:
        request.headers.set("Upgrade", "websocket")
    for name, value in headers.items():
        request.headers.set(name, value)
    return request
