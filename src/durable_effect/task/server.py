"""Tasks on the self-hosted server: `SocketServer(rooms, tasks=config)`.

The server's storage keeps a task's instances under `task:<name>` (a room
name never has a `:`), so rooms and tasks share one SQLite file and one
alarm scheduler without their names colliding. The HTTP direct API:

| route                          | what it does                         |
|--------------------------------|--------------------------------------|
| `POST /task/{name}/{id}/send`  | an event (JSON), runs `on_event`     |
| `GET /task/{name}/{id}/state`  | the state as JSON, or `null`         |
| `POST /task/{name}/{id}/alarm` | run `on_alarm` now                   |
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from durable_effect.sockets.errors import RoomNotFoundError
from durable_effect.sockets.server.host import ServerInstanceHost, evict_idle
from durable_effect.task.client import TaskClientService
from durable_effect.task.engine import TASK_NAMESPACE, TaskEngine, TaskInstance, TaskInstanceBackend
from durable_effect.task.errors import TaskError, TaskExecutionError, TaskNotFoundError, TaskValidationError
from durable_effect.task.registry import TaskConfig

if TYPE_CHECKING:
    from durable_effect.sockets.server.app import Receive, Scope, Send, SocketServer

__all__ = ["ServerTasks"]

TASK_METHODS = {"send": "POST", "alarm": "POST", "state": "GET"}
"""The method each `/task/{name}/{id}/{action}` answers; another method is a 405."""


class ServerTasks(TaskInstanceBackend):
    """The tasks a `SocketServer` serves, in its storage and on its clock."""

    def __init__(self, config: TaskConfig, server: SocketServer) -> None:
        self.config = config
        self.server = server
        self.client = TaskClientService(frozenset(config.tasks), self)
        # The room engine's services (its runtime layer built once), which hold this client too.
        self.engine = TaskEngine(config, client=lambda: self.client, shared=lambda: server.engine.handler_services())
        self._instances: dict[tuple[str, str], TaskInstance] = {}
        self._last_used: dict[tuple[str, str], float] = {}

    def task_instance(self, task: str, id: str) -> TaskInstance:
        key = (task, id)
        inst = self._instances.get(key)
        if inst is None:
            server = self.server
            host = ServerInstanceHost(
                TASK_NAMESPACE + task, id, server.storage, server._alarm_changed, server.clock.now_ms
            )
            inst = self._instances[key] = self.engine.instance(task, id, host)
        self._last_used[key] = time.monotonic()
        return inst

    def alarm_target(self, stored_name: str, id: str) -> TaskInstance | None:
        """The task instance a stored alarm belongs to; None when it is a room's."""
        if not stored_name.startswith(TASK_NAMESPACE):
            return None
        try:
            return self.task_instance(stored_name.removeprefix(TASK_NAMESPACE), id)
        except TaskNotFoundError:
            raise RoomNotFoundError(stored_name) from None  # the scheduler drops it

    def hibernate(self, task: str, id: str) -> bool:
        """Drop an idle instance's in-memory object; its storage and alarm stay."""
        inst = self._instances.get((task, id))
        if inst is None or inst.lock.locked():
            return False
        del self._instances[(task, id)]
        return True

    def evict_idle(self, cutoff: float) -> None:
        """Drop every idle instance last used at or before `cutoff` (`time.monotonic()`);
        the server's evictor calls this with its `hibernate_after`, as for rooms."""
        evict_idle(self._last_used, cutoff, self.hibernate, self.is_loaded)

    def is_loaded(self, task: str, id: str) -> bool:
        return (task, id) in self._instances

    async def api(self, scope: Scope, receive: Receive, send: Send, name: str, id: str, action: str) -> None:
        """Serve `/task/{name}/{id}/{action}`."""
        from durable_effect.sockets.server.app import (
            _BadBody,
            _error_body,
            _json,
            _model_json,
            _read_json,
            wrong_method,
        )

        if name not in self.config.tasks:
            await _json(send, 404, _error_body(TaskNotFoundError(name)))
            return
        method = scope["method"]
        run: Callable[[], Awaitable[Any]] | None = None
        if (method, action) == ("POST", "send"):
            try:
                body = await _read_json(receive, self.server.body_timeout)
            except _BadBody as exc:
                await _json(send, exc.status, {"error": {"_tag": "BadRequest", "message": str(exc)}})
                return
            run = lambda: self.send(name, id, body)  # noqa: E731
        elif (method, action) == ("POST", "alarm"):
            run = lambda: self.fire_alarm(name, id)  # noqa: E731
        elif (method, action) == ("GET", "state"):
            run = lambda: self.get_state(name, id)  # noqa: E731
        if run is None and action in TASK_METHODS:
            await wrong_method(send, method, TASK_METHODS[action])
            return
        if run is None:
            await _json(send, 404, {"error": {"_tag": "NotFound", "message": f"no route {method} .../{action}"}})
            return
        try:
            result = await run()
        except TaskValidationError as exc:
            await _json(send, 422, _error_body(exc))
        except (TaskError, TaskExecutionError) as exc:
            await _json(send, 500, _error_body(exc))
        else:
            if action == "state":
                await _json(send, 200, None if result is None else _model_json(result))
            else:
                await _json(send, 200, {"status": "ok"})
