# Stubs for `pyodide.ffi` (only what durable-effect and its examples use).
from collections.abc import Callable, Iterable
from typing import Any

class JsProxy:
    def to_py(self, *, depth: int = -1) -> Any: ...
    def to_bytes(self) -> bytes: ...
    def object_values(self) -> Any: ...
    def __getattr__(self, name: str) -> Any: ...

class JsException(Exception):
    name: str
    message: str

def to_js(
    obj: object,
    /,
    *,
    depth: int = -1,
    pyproxies: Any = None,
    create_pyproxies: bool = True,
    dict_converter: Callable[[Iterable[Any]], Any] | None = None,
    default_converter: Callable[[Any, Callable[[Any], Any], Callable[[Any, Any], None]], Any] | None = None,
) -> Any: ...
def create_proxy(obj: object, /) -> Any: ...
