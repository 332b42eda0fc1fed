"""Test utilities: the in-memory runtime, `TestConnection`, and a pytest fixture.

from durable_effect.sockets.testing import TestConnection, make_in_memory_socket_runtime
"""

from __future__ import annotations

from durable_effect.sockets.memory import (
    InMemorySocketRuntime,
    MemorySocket,
    TestConnection,
    UpgradeResponse,
    make_in_memory_socket_runtime,
)

__all__ = [
    "InMemorySocketRuntime",
    "MemorySocket",
    "TestConnection",
    "UpgradeResponse",
    "make_in_memory_socket_runtime",
]
