"""The rooms contract suite runs on whatever runtime `make_runtime` gives.

Every host runs it: the in-memory runtime (on asyncio and trio), the
self-hosted server over real WebSockets (asyncio: uvicorn needs it), and the
Cloudflare Durable Object adapter on a fake of the Workers runtime. Another
host joins the suite by adding its factory to `FACTORIES`: the same tests,
the same rooms, the same assertions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

import pytest

from durable_effect.effect import Layer
from durable_effect.sockets import EngineOptions, InMemorySocketRuntime, SocketConfig, make_in_memory_socket_runtime
from durable_effect.sockets.cloudflare.testing import CloudflareTestRuntime

from .server_runtime import ServerTestRuntime


class RuntimeFactory(Protocol):
    """Make a runtime for `config`, with optional runtime services and engine limits.

    Every runtime offers the in-memory runtime's test API (`testing_connect`,
    `room`, `advance`, `hibernate`, `clock`, `layer`), so it is typed as one.
    """

    def __call__(
        self,
        config: SocketConfig,
        *,
        services: Layer[Any, Any, Any] | None = None,
        options: EngineOptions | None = None,
    ) -> InMemorySocketRuntime: ...


Cleanup = list[Callable[[], Any]]
"""Async closers of the runtimes a test made, run when it ends."""


def in_memory(cleanup: Cleanup) -> RuntimeFactory:
    def make(
        config: SocketConfig,
        *,
        services: Layer[Any, Any, Any] | None = None,
        options: EngineOptions | None = None,
    ) -> InMemorySocketRuntime:
        return make_in_memory_socket_runtime(config, services=services, options=options)

    return make


def server(cleanup: Cleanup) -> RuntimeFactory:
    def make(
        config: SocketConfig,
        *,
        services: Layer[Any, Any, Any] | None = None,
        options: EngineOptions | None = None,
    ) -> InMemorySocketRuntime:
        rt = ServerTestRuntime(config, services=services, options=options)
        cleanup.append(rt.aclose)
        return cast(InMemorySocketRuntime, rt)  # the same test API over real sockets

    return make


def cloudflare(cleanup: Cleanup) -> RuntimeFactory:
    def make(
        config: SocketConfig,
        *,
        services: Layer[Any, Any, Any] | None = None,
        options: EngineOptions | None = None,
    ) -> InMemorySocketRuntime:
        rt = CloudflareTestRuntime(config, services=services, options=options)
        cleanup.append(rt.aclose)
        return cast(InMemorySocketRuntime, rt)  # the same test API over the Durable Object adapter

    return make


FACTORIES: dict[str, Callable[[Cleanup], RuntimeFactory]] = {
    "memory": in_memory,
    "server": server,
    "cloudflare": cloudflare,
}
BACKENDS: dict[str, list[str]] = {"memory": ["asyncio", "trio"], "server": ["asyncio"], "cloudflare": ["asyncio"]}
"""The engine is written against anyio: the in-memory suite runs on both backends;
the server runs under uvicorn, on asyncio; the fake Durable Object runtime
delivers each event as an asyncio task."""

CASES = [(host, backend) for host in sorted(FACTORIES) for backend in BACKENDS.get(host, ["asyncio"])]


@pytest.fixture(params=CASES, ids=[f"{host}-{backend}" for host, backend in CASES])
def host_case(request: pytest.FixtureRequest) -> tuple[str, str]:
    host, backend = request.param
    return str(host), str(backend)


@pytest.fixture
def anyio_backend(host_case: tuple[str, str]) -> str:
    return host_case[1]


@asynccontextmanager
async def runtimes(host: str) -> AsyncIterator[RuntimeFactory]:
    """A factory of `host` runtimes, every one of them closed on exit."""
    cleanup: Cleanup = []
    try:
        yield FACTORIES[host](cleanup)
    finally:
        for close in reversed(cleanup):
            await close()


@pytest.fixture
async def make_runtime(host_case: tuple[str, str]) -> AsyncIterator[RuntimeFactory]:
    """The runtime factory under test (one parameter per host and backend)."""
    async with runtimes(host_case[0]) as factory:
        yield factory
