"""The reminders on Cloudflare: one Worker, two Durable Object classes.

    RemindersDO = rooms_group.DO    # bound as ROOMS in wrangler
    ReminderTaskDO = tasks_group.DO # bound as TASKS

The rooms reach the tasks through `tasks_group.env_layer()` (the TASKS
binding of the Worker's env), and the tasks reach the rooms through the
ROOMS binding, read the same way from `CloudflareEnv`.
"""

from __future__ import annotations

from typing import cast

from durable_effect.effect import Layer, service
from durable_effect.platform import CloudflareEnv
from durable_effect.sockets import SocketClientService
from durable_effect.sockets.cloudflare import SocketGroup, make_socket_group_do
from durable_effect.sockets.cloudflare.types import DurableObjectNamespace
from durable_effect.task.cloudflare import TaskGroup, make_task_group_do

from .app import room_config, task_config


def make_groups(services: Layer[object, object, object] | None = None) -> tuple[SocketGroup, TaskGroup]:
    """The socket group and the task group of the Worker; `services` is given to both (a clock in tests)."""

    def rooms_client(env: CloudflareEnv) -> SocketClientService:
        return rooms.client(cast(DurableObjectNamespace, getattr(env.env, "ROOMS")))  # noqa: B009 - env is typed as object

    def with_base(layer: Layer[object, object, object]) -> Layer[object, object, object]:
        return layer if services is None else Layer.merge(services, layer)

    tasks = make_task_group_do(
        task_config,
        services=with_base(Layer.effect(SocketClientService, service(CloudflareEnv).map(rooms_client))),
        binding="TASKS",
        class_name="ReminderTaskDO",
    )
    rooms = make_socket_group_do(room_config, services=with_base(tasks.env_layer()), binding="ROOMS")
    return rooms, tasks


rooms_group, tasks_group = make_groups()
