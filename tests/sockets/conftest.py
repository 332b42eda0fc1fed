"""The rooms contract suite runs on whatever runtime `make_runtime` gives.

Today that is the in-memory host. Another host joins the suite by adding its
factory to `FACTORIES`: the same tests, the same rooms, the same assertions.
"""

from __future__ import annotations

from typing import Any, Protocol

import pytest

from durable_effect.effect import Layer
from durable_effect.sockets import EngineOptions, InMemorySocketRuntime, SocketConfig, make_in_memory_socket_runtime


class RuntimeFactory(Protocol):
    """Make a runtime for `config`, with optional runtime services and engine limits."""

    def __call__(
        self,
        config: SocketConfig,
        *,
        services: Layer[Any, Any, Any] | None = None,
        options: EngineOptions | None = None,
    ) -> InMemorySocketRuntime: ...


def in_memory(
    config: SocketConfig,
    *,
    services: Layer[Any, Any, Any] | None = None,
    options: EngineOptions | None = None,
) -> InMemorySocketRuntime:
    return make_in_memory_socket_runtime(config, services=services, options=options)


FACTORIES: dict[str, RuntimeFactory] = {"memory": in_memory}


BACKENDS = ["asyncio", "trio"]
"""The engine is written against anyio; the in-memory suite is fast enough to run on both."""


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=sorted(FACTORIES))
def make_runtime(request: pytest.FixtureRequest) -> RuntimeFactory:
    """The runtime factory under test (one parameter per host)."""
    return FACTORIES[str(request.param)]
