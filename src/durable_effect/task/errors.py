"""The error taxonomy of tasks. Every error is a `TaggedError`, so
`catch_tag(TaskError, ...)` and friends work throughout. `PurgeSignal` and
`SystemFailure` are the instance core's, the same classes rooms use."""

from __future__ import annotations

from durable_effect.effect import TaggedError
from durable_effect.platform.instance import PurgeSignal, SystemFailure

__all__ = [
    "PurgeSignal",
    "SystemFailure",
    "TaskError",
    "TaskExecutionError",
    "TaskNotFoundError",
    "TaskValidationError",
]


class TaskError(TaggedError):
    """Storage, alarm or schema failure in a `ctx` operation (or a host failure)."""

    message: str


class TaskValidationError(TaggedError):
    """An event failed the task's event schema; no handler ran."""

    message: str
    raw: str = ""


class TaskExecutionError(TaggedError):
    """A handler raised, or failed with an error nobody handled."""

    message: str
    cause: BaseException | None = None


class TaskNotFoundError(TaggedError):
    """No task with this name is registered."""

    name: str
