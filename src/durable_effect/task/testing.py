"""Test utilities for tasks: the in-memory runtime and a pytest fixture.

# conftest.py
from durable_effect.task.testing import task_runtime  # noqa: F401  (the fixture)

# test_reminders.py
async def test_remind(task_runtime: TaskRuntimeFactory) -> None:
    rt = task_runtime(config)
    await run_promise(rt.task(Reminders).send("r-1", Add(text="tea", in_ms=60_000)))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from durable_effect.effect import Layer, TestClock
from durable_effect.task.memory import InMemoryTaskRuntime, make_in_memory_task_runtime
from durable_effect.task.registry import TaskConfig

__all__ = ["InMemoryTaskRuntime", "TaskRuntimeFactory", "make_in_memory_task_runtime", "task_runtime"]

TaskRuntimeFactory = Callable[..., InMemoryTaskRuntime]
"""`task_runtime(config, services=None, clock=None)` -> a fresh in-memory task runtime."""


def _factory() -> Iterator[TaskRuntimeFactory]:
    def make(
        config: TaskConfig,
        services: Layer[object, object, object] | None = None,
        clock: TestClock | None = None,
    ) -> InMemoryTaskRuntime:
        return make_in_memory_task_runtime(config, services, clock)

    yield make


try:
    import pytest
except ImportError:  # pytest is only needed for the fixture
    pass
else:
    task_runtime = pytest.fixture(_factory, name="task_runtime")
