"""Tasks on Cloudflare: one Durable Object per task instance, in the same
Worker as a socket group (its own class and namespace binding, so task and
room names never collide).

    tasks = make_task_group_do(task_config, class_name="TaskGroupDO", binding="TASKS")
    TaskGroupDO = tasks.DO                      # export it under its name; bind it as TASKS
    client = tasks.client(env.TASKS)            # or tasks.layer(env.TASKS)

A client reaches instance `id` of `task` at `idFromName(f"{task}:{id}")`
through its stub's `fetch`, with the rooms' small protocol (`POST
https://rooms.internal/{task}/{id}/{op}`, op: send | get_state | fire_alarm);
errors come back typed. The alarm is the object's own, retried by the
platform (`alarmInfo.retryCount` becomes `ctx.system_failure`).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Never, cast

from pydantic import BaseModel, ValidationError

from durable_effect.effect import Layer, TaggedError, service
from durable_effect.platform import CloudflareEnv
from durable_effect.platform.instance import IDENTITY_KEY
from durable_effect.sockets.cloudflare import _ffi
from durable_effect.sockets.cloudflare.client import call_op, instance_name
from durable_effect.sockets.cloudflare.do import _check_class_name
from durable_effect.sockets.cloudflare.host import DurableObjectHost
from durable_effect.sockets.cloudflare.protocol import _decode_cause, _encode_cause, op_url, parse_op_url
from durable_effect.sockets.cloudflare.types import DurableObjectNamespace, DurableObjectState, DurableObjectStub
from durable_effect.task.client import TaskBackend, TaskClientService
from durable_effect.task.engine import TaskEngine, TaskInstance, TaskInstanceBackend
from durable_effect.task.errors import TaskError, TaskExecutionError, TaskNotFoundError, TaskValidationError
from durable_effect.task.registry import TaskConfig

if TYPE_CHECKING:
    from workers import DurableObject

__all__ = ["NamespaceTaskBackend", "TaskAlarmFailed", "TaskGroup", "TaskGroupCore", "make_task_group_do"]

log = logging.getLogger("durable_effect.cloudflare")

TASK_OPS = frozenset({"send", "get_state", "fire_alarm"})


class TaskAlarmFailed(Exception):
    """Raised from `alarm()` when `on_alarm` failed, so the platform retries it."""


# -- errors over the wire --------------------------------------------------------------------


def _status(err: BaseException) -> int:
    if isinstance(err, TaskValidationError):
        return 422
    if isinstance(err, TaskNotFoundError):
        return 404
    return 500


def _encode(err: BaseException) -> dict[str, object]:
    if isinstance(err, TaskExecutionError):
        return {"_tag": "TaskExecutionError", "message": err.message, "cause": _encode_cause(err.cause)}
    if isinstance(err, TaskValidationError):
        return {"_tag": "TaskValidationError", "message": err.message, "raw": err.raw}
    if isinstance(err, TaskNotFoundError):
        return {"_tag": "TaskNotFoundError", "name": err.name}
    if isinstance(err, TaskError):
        return {"_tag": "TaskError", "message": err.message}
    return {"_tag": "TaskExecutionError", "message": f"the task failed: {err!r}", "cause": _encode_cause(err)}


def _decode(status: int, body: str) -> TaggedError:
    try:
        data = json.loads(body)["error"]
        tag = data["_tag"]
        if tag == "TaskExecutionError":
            return TaskExecutionError(str(data["message"]), _decode_cause(data.get("cause")))
        if tag == "TaskValidationError":
            return TaskValidationError(str(data["message"]), str(data.get("raw", "")))
        if tag == "TaskNotFoundError":
            return TaskNotFoundError(str(data["name"]))
        if tag == "TaskError":
            return TaskError(str(data["message"]))
    except (ValueError, KeyError, TypeError):
        pass
    return TaskError(f"the task answered {status}: {body[:200]}")


# -- the client ------------------------------------------------------------------------------


class NamespaceTaskBackend:
    """A `TaskBackend` that reaches each task instance's Durable Object through `namespace`."""

    def __init__(self, config: TaskConfig, namespace: DurableObjectNamespace) -> None:
        self.config = config
        self.namespace = namespace

    def stub(self, task: str, id: str) -> DurableObjectStub:
        return self.namespace.get(self.namespace.idFromName(instance_name(task, id)))

    async def call(self, task: str, id: str, op: str, args: dict[str, object] | None = None) -> object:
        """Run `op` on the instance's Durable Object; its result, or its error raised typed."""
        self.config.task(task)
        name = instance_name(task, id)
        failed = lambda exc: TaskError(f"the Durable Object of task {name} failed: {exc}")  # noqa: E731
        return await call_op(self.stub(task, id), op_url(task, id, op), args, failed, _decode)

    async def send(self, task: str, id: str, event: object) -> None:
        schema = self.config.task(task).event
        try:
            value = schema.validate(event)
        except ValidationError as exc:
            raise TaskValidationError(f"not a valid event for task {task!r}: {exc}", repr(event)[:200]) from None
        await self.call(task, id, "send", {"value": value.to_dict()})

    async def get_state(self, task: str, id: str) -> BaseModel | None:
        value = await self.call(task, id, "get_state")
        return None if value is None else self.config.task(task).state.model_validate(value)

    async def fire_alarm(self, task: str, id: str) -> None:
        await self.call(task, id, "fire_alarm")


class _OwnInstance(TaskInstanceBackend):
    """The object's own instance, in-process: a handler calling itself fails at once."""

    def __init__(self, instance: TaskInstance) -> None:
        self._instance = instance

    def task_instance(self, task: str, id: str) -> TaskInstance:
        return self._instance


class _DurableObjectClient:
    """The tasks client inside a task's Durable Object: siblings through the namespace."""

    def __init__(self, core: TaskGroupCore) -> None:
        self._core = core

    def _backend(self, task: str, id: str) -> TaskBackend:
        core = self._core
        if core.instance is not None and core.key == (task, id):
            return _OwnInstance(core.instance)
        return NamespaceTaskBackend(core.group.config, core.namespace())

    async def send(self, task: str, id: str, event: object) -> None:
        await self._backend(task, id).send(task, id, event)

    async def get_state(self, task: str, id: str) -> BaseModel | None:
        return await self._backend(task, id).get_state(task, id)

    async def fire_alarm(self, task: str, id: str) -> None:
        await self._backend(task, id).fire_alarm(task, id)


# -- the Durable Object ----------------------------------------------------------------------


class TaskGroupCore:
    """One task Durable Object: the instance it holds, and the platform's entry
    points (fetch, alarm) mapped onto it. Plain Python: runs on the fake too."""

    def __init__(self, group: TaskGroup, ctx: DurableObjectState, env: object) -> None:
        self.group = group
        self.ctx = ctx
        self.env = env
        self.host = DurableObjectHost(ctx)
        self.client = TaskClientService(frozenset(group.config.tasks), _DurableObjectClient(self))
        services: dict[type, object] = {CloudflareEnv: CloudflareEnv(env), TaskClientService: self.client}
        self.engine = TaskEngine(group.config, client=lambda: self.client, services=services, layer=group.services)
        self.key: tuple[str, str] | None = None
        self.instance: TaskInstance | None = None

    def namespace(self) -> DurableObjectNamespace:
        binding: object = getattr(self.env, self.group.binding, None)
        if binding is None:
            raise TaskError(f"the Durable Object namespace binding {self.group.binding!r} is not in env")
        return cast(DurableObjectNamespace, binding)

    def _bind(self, key: tuple[str, str]) -> TaskInstance:
        if self.instance is None:
            self.instance = self.engine.instance(key[0], key[1], self.host)
            self.key = key
        elif self.key != key:
            raise TaskError(f"this Durable Object holds {self.key}, not {key}")
        return self.instance

    async def _stored_instance(self) -> TaskInstance | None:
        """The instance this object holds: known, named by `ctx.id`, or from its stored identity."""
        if self.instance is not None:
            return self.instance
        name = getattr(self.ctx.id, "name", None)
        if isinstance(name, str) and ":" in name:
            task, _, id = name.partition(":")
            return self._bind((task, id))
        raw = await self.host.load(IDENTITY_KEY)
        if raw is None:
            return None
        data = json.loads(raw)
        return self._bind((str(data["task"]), str(data["id"])))

    async def fetch(self, request: Any) -> object:
        parsed = parse_op_url(str(request.url))
        if parsed is None or parsed[2] not in TASK_OPS:
            return _ffi.json_response(404, json.dumps({"error": {"_tag": "NotFound", "message": "no such route"}}))
        task, id, op = parsed
        try:
            self.group.config.task(task)
            instance = self._bind((task, id))
            args = json.loads((await request.text()) or "{}")
            result: object = None
            if op == "send":
                await instance.send_event(args.get("value"))
            elif op == "get_state":
                state = await instance.get_state()
                result = None if state is None else state.model_dump(mode="json", by_alias=True)
            else:
                await instance.fire_alarm(direct=True, consume=True)
        except Exception as err:
            if not isinstance(err, TaggedError):
                log.exception("task %s/%s: %s failed", task, id, op)
            return _ffi.json_response(_status(err), json.dumps({"error": _encode(err)}))
        return _ffi.json_response(200, json.dumps({"ok": result}, separators=(",", ":")))

    async def alarm(self, alarm_info: object = None) -> None:
        instance = await self._stored_instance()
        if instance is None:
            log.warning("alarm of a task Durable Object with no stored identity: dropped")
            return
        retry = getattr(alarm_info, "retryCount", 0) if alarm_info is not None else 0
        if not await instance.fire_alarm(int(retry or 0)):
            key = self.key or ("?", "?")
            raise TaskAlarmFailed(f"on_alarm of task {instance_name(*key)} failed; the platform retries it")


def _make_do_class(group: TaskGroup) -> type[DurableObject]:
    from workers import DurableObject

    class TaskGroupDO(DurableObject):
        """A task instance as a Durable Object."""

        def __init__(self, ctx: Any, env: Any) -> None:
            super().__init__(ctx, env)
            self._core = TaskGroupCore(group, ctx, env)

        async def fetch(self, request: Any) -> object:
            return await self._core.fetch(request)

        async def alarm(self, alarm_info: Any = None) -> None:
            await self._core.alarm(alarm_info)

    TaskGroupDO.__name__ = TaskGroupDO.__qualname__ = group.class_name
    return TaskGroupDO


class TaskGroup:
    """The tasks of one config on Cloudflare: the Durable Object class to export,
    and the client that reaches its instances through a namespace binding."""

    def __init__(
        self,
        config: TaskConfig,
        *,
        class_name: str,
        services: Layer[object, object, object] | None = None,
        binding: str = "TASKS",
    ) -> None:
        self.config = config
        self.services = services
        self.binding = binding
        self.class_name = _check_class_name(class_name)
        self._do_class: type[DurableObject] | None = None

    @property
    def DO(self) -> type[DurableObject]:
        """The Durable Object class to export (named `class_name`; built on first
        use: it needs the `workers` module of a Python Worker)."""
        if self._do_class is None:
            self._do_class = _make_do_class(self)
        return self._do_class

    def client(self, namespace: DurableObjectNamespace) -> TaskClientService:
        """The direct API over `namespace` (e.g. `self.env.TASKS` in a Worker)."""
        return TaskClientService(frozenset(self.config.tasks), NamespaceTaskBackend(self.config, namespace))

    def layer(self, namespace: DurableObjectNamespace) -> Layer[TaskClientService, Never, Never]:
        """Provides `TaskClientService` over `namespace` (to a socket group, say)."""
        return Layer.succeed(TaskClientService, self.client(namespace))

    def env_layer(self) -> Layer[TaskClientService, Never, CloudflareEnv]:
        """Provides `TaskClientService` over the `binding` of the Worker's env, read
        from `CloudflareEnv`: what a socket group in the same Worker gives its rooms
        (`make_socket_group_do(rooms, class_name=..., services=tasks.env_layer())`)."""

        def over(env: CloudflareEnv) -> TaskClientService:
            namespace: object = getattr(env.env, self.binding, None)
            if namespace is None:
                raise TaskError(f"the Durable Object namespace binding {self.binding!r} is not in env")
            return self.client(cast(DurableObjectNamespace, namespace))

        return Layer.effect(TaskClientService, service(CloudflareEnv).map(over))


def make_task_group_do(
    config: TaskConfig,
    *,
    class_name: str,
    services: Layer[object, object, object] | None = None,
    binding: str = "TASKS",
) -> TaskGroup:
    """The Cloudflare host of `config`: `group.DO` is the Durable Object class,
    named `class_name`; export it from the Worker's main module under that name
    (wrangler's `class_name`), bound as `binding` (sibling dispatch uses it).
    `group.client(env.TASKS)` / `group.layer(env.TASKS)` reach its instances.
    `services` is a layer provided to every handler run. Raises `ValueError`
    when `class_name` is not a name the runtime can export."""
    return TaskGroup(config, class_name=class_name, services=services, binding=binding)
