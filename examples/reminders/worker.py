"""The reminders on Cloudflare: one Worker, two Durable Object classes.

    RemindersDO = rooms_group.DO    # bound as ROOMS in wrangler
    ReminderTaskDO = tasks_group.DO # bound as TASKS

The rooms reach the tasks through `tasks_group.env_layer()` (the TASKS
binding of the Worker's env), and the tasks reach the rooms through the
ROOMS binding, read the same way from `CloudflareEnv`.
"""

from __future__ import annotations

from typing import cast

from durable_effect.effect import Clock, Layer, LiveClock, service
from durable_effect.platform import CloudflareEnv
from durable_effect.sockets import SocketClientService
from durable_effect.sockets.cloudflare import SocketGroup, make_socket_group_do
from durable_effect.sockets.cloudflare.types import DurableObjectNamespace
from durable_effect.task.cloudflare import TaskGroup, make_task_group_do

from .app import room_config, task_config


def make_groups(clock: Clock | None = None) -> tuple[SocketGroup, TaskGroup]:
    """The socket group and the task group of the Worker (on `clock`: a test clock in tests)."""
    time = Layer.succeed(Clock, clock if clock is not None else LiveClock())

    def rooms_client(env: CloudflareEnv) -> SocketClientService:
        return rooms.client(cast(DurableObjectNamespace, getattr(env.env, "ROOMS")))  # noqa: B009 - env is typed as object

    tasks = make_task_group_do(
        task_config,
        services=Layer.merge(time, Layer.effect(SocketClientService, service(CloudflareEnv).map(rooms_client))),
        binding="TASKS",
        class_name="ReminderTaskDO",
    )
    rooms = make_socket_group_do(
        room_config, services=Layer.merge(time, tasks.env_layer()), binding="ROOMS", class_name="RemindersDO"
    )
    return rooms, tasks


rooms_group, tasks_group = make_groups()
