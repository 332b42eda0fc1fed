"""The `workers` module of Python Workers, as the test harness installs it in Pyodide.

A small stand-in for the SDK module that Cloudflare's runtime injects: the
`DurableObject` and `WorkerEntrypoint` base classes (which wrap `env` so that
a Durable Object namespace's stubs answer `fetch` with a Python `Response`),
and `Response` over the runtime's JS `Response`. The harness copies this file
into Pyodide as the `workers` package (with `workers_asgi_shim.py` as `workers.asgi`);
it is not imported on CPython.
"""

from __future__ import annotations

import importlib
import json
from email.message import Message
from http import HTTPMethod
from typing import Any

js: Any = importlib.import_module("js")
_ffi: Any = importlib.import_module("pyodide.ffi")

__all__ = ["DurableObject", "Request", "Response", "WorkerEntrypoint"]


def _js_object(value: dict[str, Any]) -> Any:
    return _ffi.to_js(value, dict_converter=js.Object.fromEntries)


def _is_js(value: object, class_name: str) -> bool:
    return isinstance(value, _ffi.JsProxy) and getattr(getattr(value, "constructor", None), "name", None) == class_name


class Request:
    """An incoming request, as the runtime hands it to `fetch`: a wrapper of the JS `Request`."""

    def __init__(self, js_request: Any) -> None:
        if not _is_js(js_request, "Request"):
            raise TypeError(f"Request wraps a JS Request, got {type(js_request).__name__}")
        self.js_object: Any = js_request

    @property
    def url(self) -> str:
        return str(self.js_object.url)

    @property
    def method(self) -> HTTPMethod:
        return HTTPMethod[str(self.js_object.method)]

    @property
    def headers(self) -> Message:
        message = Message()
        for name, value in self.js_object.headers.entries():
            message[str(name)] = str(value)
        return message

    async def text(self) -> str:
        return str(await self.js_object.text())

    async def json(self) -> Any:
        return json.loads(await self.text())

    async def bytes(self) -> bytes:
        buffer = await self.js_object.arrayBuffer()
        return bytes(buffer.to_bytes())


class Response:
    """A response; `js_object` is the runtime's JS `Response`."""

    def __init__(
        self,
        body: Any = None,
        status: int | None = None,
        status_text: str = "",
        headers: dict[str, str] | None = None,
        web_socket: Any = None,
    ) -> None:
        if _is_js(body, "Response"):
            self.js_object: Any = body
            return
        if isinstance(body, bytes):
            body = _ffi.to_js(body)
        elif body is not None and not isinstance(body, str | _ffi.JsProxy):
            raise TypeError(f"Unsupported type in Response: {type(body).__name__}")
        init: dict[str, Any] = {}
        if status:
            init["status"] = int(status)
        if status_text:
            init["statusText"] = status_text
        if headers:
            init["headers"] = _js_object(dict(headers))
        if web_socket is not None:
            init["webSocket"] = web_socket
        self.js_object = js.Response.new(body, _js_object(init))

    @property
    def status(self) -> int:
        return int(self.js_object.status)

    @property
    def headers(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.js_object.headers.entries()}

    async def text(self) -> str:
        return str(await self.js_object.text())

    async def bytes(self) -> bytes:
        buffer = await self.js_object.arrayBuffer()
        return bytes(buffer.to_bytes())

    def json(self, *args: Any, **kwargs: Any) -> Any:
        """`await response.json()` on an instance; `Response.json(data, ...)` builds one."""
        if isinstance(self, Response):
            return self._json()
        return Response.from_json(self, *args, **kwargs)

    async def _json(self) -> Any:
        return json.loads(await self.text())

    @staticmethod
    def from_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        merged = {"content-type": "application/json", **(headers or {})}
        return Response(json.dumps(data), status=status, headers=merged)


class _Stub:
    """A Durable Object stub: `await stub.fetch(url, method=..., body=..., headers=...)`."""

    def __init__(self, binding: Any) -> None:
        self._binding = binding

    def __getattr__(self, name: str) -> Any:
        return getattr(self._binding, name)

    async def fetch(self, resource: Any, **options: Any) -> Response:
        if isinstance(resource, Response):
            raise TypeError("fetch() takes a URL or a Request")
        if "headers" in options and isinstance(options["headers"], dict):
            options["headers"] = _js_object(options["headers"])
        if isinstance(options.get("body"), bytes):
            options["body"] = _ffi.to_js(options["body"])
        js_response = await self._binding.fetch(resource, _js_object(options))
        return Response(js_response)


class _Namespace:
    def __init__(self, binding: Any) -> None:
        self._binding = binding

    def __getattr__(self, name: str) -> Any:
        return getattr(self._binding, name)

    def get(self, *args: Any) -> _Stub:
        return _Stub(self._binding.get(*args))

    def getByName(self, name: str) -> _Stub:
        return _Stub(self._binding.getByName(name))


class _Env:
    """`env` as Python code sees it: namespace bindings are wrapped."""

    def __init__(self, env: Any) -> None:
        self._env = env

    def __getattr__(self, name: str) -> Any:
        binding = getattr(self._env, name)
        if _is_js(binding, "DurableObjectNamespace"):
            return _Namespace(binding)
        return binding


def _wrap_env(cls: type[Any]) -> None:
    original = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > 1 and not isinstance(args[1], _Env):
            args = (args[0], _Env(args[1]), *args[2:])
        original(self, *args, **kwargs)

    cls.__init__ = __init__


class _Entrypoint:
    """`self.ctx` (JS, passed through unconverted) and `self.env` (bindings wrapped)."""

    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _wrap_env(cls)


class DurableObject(_Entrypoint):
    """Base class of a Durable Object."""


class WorkerEntrypoint(_Entrypoint):
    """Base class of a Worker's default entrypoint."""
