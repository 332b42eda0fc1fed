"""The task contract suite runs on whatever runtime `make_runtime` gives.

Every host runs it: the in-memory runtime (on asyncio and trio), the
self-hosted server, and the Cloudflare Durable Object adapter on a fake of
the Workers runtime. Another host joins the suite by adding its factory to
`FACTORIES`: the same tests, the same tasks, the same assertions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

import pytest

from durable_effect.effect import Layer
from durable_effect.task import InMemoryTaskRuntime, TaskConfig, make_in_memory_task_runtime
from durable_effect.task.testing import task_runtime  # noqa: F401  (the fixture, for the in-memory-only tests)

from .cloudflare_runtime import CloudflareTaskTestRuntime
from .server_runtime import ServerTaskTestRuntime


class TaskRuntimeFactory(Protocol):
    """Make a task runtime for `config`, with optional runtime services.

    Every runtime offers the in-memory runtime's test API (`task`, `advance`,
    `tick`, `clock`, `hibernate`, `inject_system_failure`), so it is typed as one.
    """

    def __call__(self, config: TaskConfig, *, services: Layer[Any, Any, Any] | None = None) -> InMemoryTaskRuntime: ...


Cleanup = list[Callable[[], Any]]
"""Async closers of the runtimes a test made, run when it ends."""


def in_memory(cleanup: Cleanup) -> TaskRuntimeFactory:
    def make(config: TaskConfig, *, services: Layer[Any, Any, Any] | None = None) -> InMemoryTaskRuntime:
        return make_in_memory_task_runtime(config, services=services)

    return make


def server(cleanup: Cleanup) -> TaskRuntimeFactory:
    def make(config: TaskConfig, *, services: Layer[Any, Any, Any] | None = None) -> InMemoryTaskRuntime:
        rt = ServerTaskTestRuntime(config, services=services)
        cleanup.append(rt.aclose)
        return cast(InMemoryTaskRuntime, rt)  # the same test API over the server's storage and scheduler

    return make


def cloudflare(cleanup: Cleanup) -> TaskRuntimeFactory:
    def make(config: TaskConfig, *, services: Layer[Any, Any, Any] | None = None) -> InMemoryTaskRuntime:
        rt = CloudflareTaskTestRuntime(config, services=services)
        cleanup.append(rt.aclose)
        return cast(InMemoryTaskRuntime, rt)  # the same test API over the Durable Object adapter

    return make


FACTORIES: dict[str, Callable[[Cleanup], TaskRuntimeFactory]] = {
    "memory": in_memory,
    "server": server,
    "cloudflare": cloudflare,
}
BACKENDS: dict[str, list[str]] = {"memory": ["asyncio", "trio"], "server": ["asyncio"], "cloudflare": ["asyncio"]}
"""The in-memory suite runs on both anyio backends; the fake Durable Object
runtime delivers each event as an asyncio task."""

CASES = [(host, backend) for host in sorted(FACTORIES) for backend in BACKENDS.get(host, ["asyncio"])]


@pytest.fixture(params=CASES, ids=[f"{host}-{backend}" for host, backend in CASES])
def host_case(request: pytest.FixtureRequest) -> tuple[str, str]:
    host, backend = request.param
    return str(host), str(backend)


@pytest.fixture
def anyio_backend(host_case: tuple[str, str]) -> str:
    return host_case[1]


@asynccontextmanager
async def runtimes(host: str) -> AsyncIterator[TaskRuntimeFactory]:
    """A factory of `host` runtimes, every one of them closed on exit."""
    cleanup: Cleanup = []
    try:
        yield FACTORIES[host](cleanup)
    finally:
        for close in reversed(cleanup):
            await close()


@pytest.fixture
async def make_runtime(host_case: tuple[str, str]) -> AsyncIterator[TaskRuntimeFactory]:
    """The task runtime factory under test (one parameter per host and backend)."""
    async with runtimes(host_case[0]) as factory:
        yield factory
