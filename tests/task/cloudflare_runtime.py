"""The task contract suite on the Cloudflare Durable Object adapter, over the
fake Workers runtime: every call goes through the namespace's stub `fetch` to
the instance's Durable Object, alarms through `alarm()` with the platform's
retries."""

from __future__ import annotations

from typing import Any, Never, cast

from durable_effect.effect import Duration, DurationInput, Effect, Layer, TestClock
from durable_effect.effect.clock import Clock
from durable_effect.platform.instance import SystemFailure
from durable_effect.platform.memory import START_MS
from durable_effect.sockets.cloudflare.client import instance_name
from durable_effect.sockets.cloudflare.fake import FakeCloudflare, install_fake_modules, uninstall_fake_modules
from durable_effect.task import Task, TaskClientService, TaskConfig, TaskHandle
from durable_effect.task.client import _call
from durable_effect.task.cloudflare import TaskGroup, make_task_group_do

BINDING = "TASKS"


def _name(task: Task[Any, Any] | str) -> str:
    return task if isinstance(task, str) else task.name


class CloudflareTaskTestRuntime:
    """A task group on the fake runtime, driven like the in-memory task runtime."""

    def __init__(self, config: TaskConfig, *, services: Layer[Any, Any, Any] | None = None) -> None:
        install_fake_modules()
        self.clock = TestClock(START_MS)
        self.world = FakeCloudflare(self.clock)
        clock_layer: Layer[object, object, object] = Layer.succeed(Clock, self.clock)
        layer = clock_layer if services is None else Layer.merge(clock_layer, services)
        self.group: TaskGroup = make_task_group_do(config, class_name="TasksDO", services=layer, binding=BINDING)
        self.namespace = self.world.bind(BINDING, self.group.DO)
        self.client = self.group.client(self.namespace)

    def task(self, task: Task[Any, Any] | str) -> TaskHandle[Any, Any]:
        return self.client.task(task)

    def layer(self) -> Layer[TaskClientService, Never, Never]:
        return self.group.layer(self.namespace)

    def advance(self, duration: DurationInput) -> Effect[int]:
        millis = Duration.decode(duration).millis

        async def run() -> int:
            return await self.world.advance(millis)

        return cast(Effect[int], _call(run))

    def tick(self) -> Effect[int]:
        return self.advance(0)

    def inject_system_failure(self, task: Task[Any, Any] | str, id: str, failure: SystemFailure) -> None:
        name = _name(task)
        do = self.world.instance(BINDING, instance_name(name, id))
        do._core._bind((name, id)).injected_failure = failure

    def hibernate(self, task: Task[Any, Any] | str, id: str) -> Effect[None]:
        name = _name(task)

        async def run() -> None:
            self.world.hibernate(BINDING, instance_name(name, id))

        return cast(Effect[None], _call(run))

    async def aclose(self) -> None:
        await self.world.settle()
        self.world.discard_pending()
        uninstall_fake_modules()
