# Stubs for Pyodide's `js` module (the JavaScript global scope), as far as
# durable-effect and its examples use it. JavaScript values are untyped here;
# the adapter narrows them with the Protocols in durable_effect.sockets.cloudflare.types.
from typing import Any

class _JsClass:
    def new(self, *args: Any, **kwargs: Any) -> Any: ...
    def __getattr__(self, name: str) -> Any: ...

class _Object:
    def fromEntries(self, entries: Any, /) -> Any: ...
    def __getattr__(self, name: str) -> Any: ...

class _Date:
    def now(self) -> float: ...
    def new(self, *args: Any) -> Any: ...

Object: _Object
Date: _Date
Array: _JsClass
Request: _JsClass
Response: _JsClass
Headers: _JsClass
WebSocketPair: _JsClass
URL: _JsClass

def __getattr__(name: str) -> Any: ...
