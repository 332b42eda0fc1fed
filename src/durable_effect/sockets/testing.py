"""Test utilities: the in-memory runtime, `TestConnection`, and a pytest fixture.

# conftest.py
from durable_effect.sockets.testing import socket_runtime  # noqa: F401  (the fixture)

# test_chat.py
async def test_join(socket_runtime: RuntimeFactory) -> None:
    rt = socket_runtime(config)
    alice = await run_promise(rt.testing_connect(Chat, "room-1", opts))
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar

from durable_effect.effect import Layer
from durable_effect.sockets.engine import EngineOptions
from durable_effect.sockets.memory import (
    InMemorySocketRuntime,
    MemorySocket,
    TestConnection,
    UpgradeResponse,
    make_in_memory_socket_runtime,
)
from durable_effect.sockets.registry import SocketConfig

__all__ = [
    "InMemorySocketRuntime",
    "MemorySocket",
    "RuntimeFactory",
    "TestConnection",
    "UpgradeResponse",
    "make_in_memory_socket_runtime",
    "socket_runtime",
]

Rooms = TypeVar("Rooms")


class RuntimeFactory(Protocol):
    """`socket_runtime(config, services=None, options=None)` -> a fresh in-memory runtime.

    With the mypy plugin, `services` must provide what the config's handlers need.
    """

    def __call__(
        self,
        config: SocketConfig[Rooms, object],
        services: Layer[object, object, object] | None = None,
        options: EngineOptions | None = None,
    ) -> InMemorySocketRuntime[Rooms]: ...


def _factory() -> Iterator[RuntimeFactory]:
    def make(
        config: SocketConfig[Rooms, object],
        services: Layer[object, object, object] | None = None,
        options: EngineOptions | None = None,
    ) -> InMemorySocketRuntime[Rooms]:
        return make_in_memory_socket_runtime(config, services, options)

    yield make


try:
    import pytest
except ImportError:  # pytest is only needed for the fixture
    pass
else:
    socket_runtime = pytest.fixture(_factory, name="socket_runtime")
