"""Durable event-driven tasks: declarations, registry, the engine, and the
in-memory runtime. Tasks share the instance core, the platform services
(`Storage`, `Alarm`) and the hosts with rooms (`durable_effect.sockets`)."""

from durable_effect.sockets.registry import Handler
from durable_effect.sockets.schema import Schema, TaggedStruct, UnionSchema
from durable_effect.task.client import TaskClient, TaskClientService, TaskFailure, TaskHandle
from durable_effect.task.ctx import TaskCtx
from durable_effect.task.errors import (
    PurgeSignal,
    SystemFailure,
    TaskError,
    TaskExecutionError,
    TaskNotFoundError,
    TaskValidationError,
)
from durable_effect.task.memory import InMemoryTaskRuntime, make_in_memory_task_runtime
from durable_effect.task.registry import TaskBuilder, TaskConfig, TaskHandlers, TaskRegistry, with_services
from durable_effect.task.task import Task

__all__ = [
    "Handler",
    "InMemoryTaskRuntime",
    "PurgeSignal",
    "Schema",
    "SystemFailure",
    "TaggedStruct",
    "Task",
    "TaskBuilder",
    "TaskClient",
    "TaskClientService",
    "TaskConfig",
    "TaskCtx",
    "TaskError",
    "TaskExecutionError",
    "TaskFailure",
    "TaskHandle",
    "TaskHandlers",
    "TaskNotFoundError",
    "TaskRegistry",
    "TaskValidationError",
    "UnionSchema",
    "make_in_memory_task_runtime",
    "with_services",
]
