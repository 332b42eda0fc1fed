"""The transactional instance core, shared by rooms and tasks.

An instance is one (name, id) of a durable object type: a room of
`durable_effect.sockets` or a task of `durable_effect.task`. Its handler runs
go one at a time under a lock; each run (its handler, and `on_error` if the
handler fails) is one storage transaction: the writes and the alarm change
are committed together when the run succeeds, and dropped when it fails.
`purge` deletes everything and bypasses `on_error`; an alarm run removes the
alarm that fired by its own commit, so a failed alarm fires again. Rooms add
sockets and output on top (`sockets/engine.py`); tasks add nothing.
"""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Never, Protocol, TypeAlias, TypeVar

import anyio
from pydantic import BaseModel, ValidationError

from durable_effect.effect import (
    Cause,
    Die,
    Duration,
    DurationInput,
    Effect,
    Fail,
    Failure,
    Layer,
    Success,
    TaggedError,
    suspend,
)
from durable_effect.effect._core import _Async, _Fail, _Succeed, _Sync
from durable_effect.effect._runtime import DEFAULT_SERVICES, run_loop
from durable_effect.effect.scope import Scope
from durable_effect.platform import Alarm, Storage
from durable_effect.platform.lock import RunLock

__all__ = [
    "ALARM_MAX_RETRIES",
    "IDENTITY_KEY",
    "STATE_KEY",
    "USER_KEY_PREFIX",
    "AlarmChange",
    "Channel",
    "HandlerResult",
    "InstanceAlarm",
    "InstanceCore",
    "InstanceStorage",
    "RuntimeServices",
    "PurgeSignal",
    "StoreHost",
    "SystemFailure",
    "Tx",
    "alarm_backoff_ms",
    "direct_call",
    "validate_model",
]

# One source of truth for the storage keys and alarm retries, used by every package and host.
ALARM_MAX_RETRIES = 6
STATE_KEY = "state"
IDENTITY_KEY = "__identity__"
USER_KEY_PREFIX = "kv:"
"""Keys written through the `Storage` service live under this prefix, apart from the state."""

T = TypeVar("T")
E = TypeVar("E", bound=TaggedError)
R = TypeVar("R", bound="Tx")
M = TypeVar("M", bound=BaseModel)

HandlerResult: TypeAlias = Effect[object, object, object]
"""What a handler returns: any effect; its value is ignored."""


def alarm_backoff_ms(retry: int) -> float:
    """Delay before alarm retry number `retry` (1-based): 2 s, 4 s, 8 s, …"""
    return 2_000.0 * float(2 ** max(retry - 1, 0))


class PurgeSignal(TaggedError):
    """Control flow of `ctx.purge()`: storage and alarm are deleted, the handler exits."""


class SystemFailure(TaggedError):
    """Set on `ctx.system_failure` when an alarm runs again after a failure."""

    message: str
    retry_count: int = 0


class Channel(Protocol):
    """A handler channel as the core runs it: the handler, and its own `on_error`
    (rooms' and tasks' `Handler`). `on_error(ctx, err)` receives the handler's
    typed error (or the defect); `PurgeSignal` never reaches it."""

    @property
    def handler(self) -> Any: ...

    @property
    def on_error(self) -> Callable[..., HandlerResult] | None: ...


class RuntimeServices:
    """The services handlers run with: the host's, plus a runtime layer built
    once, on first use, its `Layer.scoped` resources in a scope `aclose` closes."""

    __slots__ = ("_layer", "_scope", "services")

    def __init__(self, services: Mapping[type, object] | None, layer: Layer[object, object, object] | None) -> None:
        self.services: Mapping[type, object] = {**DEFAULT_SERVICES, **(services or {})}
        self._layer = layer
        self._scope: Scope | None = None

    async def get(self) -> Success[Mapping[type, object]] | Failure[object]:
        if self._layer is not None:
            services = self.services
            if self._layer._scoped:
                self._scope = Scope()
                services = {**services, Scope: self._scope}
            built = await run_loop(self._layer.build({}), services)
            if isinstance(built, Failure):
                return built
            self.services = {**self.services, **built.value}
            self._layer = None
        return Success(self.services)

    async def aclose(self) -> None:
        """Release the scoped resources, last acquired first. Idempotent."""
        scope, self._scope = self._scope, None
        if scope is not None:
            with anyio.CancelScope(shield=True):
                await run_loop(scope.close(Success(None)), self.services)


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """A run's change to the alarm: a new time in epoch ms, or None (deleted)."""

    at_ms: float | None


class StoreHost(Protocol):
    """Storage, alarm and clock of one instance: what a host gives the core."""

    async def load(self, key: str) -> str | None:
        """The stored value of `key`, or None."""
        ...

    async def commit(self, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None) -> None:
        """Write one run's changes, with its alarm change (None: unchanged), as
        one transaction: all durable when this returns, or none if it raises.
        The engine sends the run's frames only after this returns."""
        ...

    async def delete_all(self) -> None:
        """Delete every stored key of the instance (not the alarm)."""
        ...

    async def get_alarm(self) -> float | None:
        """The scheduled alarm time in epoch ms, or None."""
        ...

    def now_ms(self) -> float:
        """The host's clock, epoch ms."""
        ...


class Tx:
    """One run's pending storage writes and alarm change, committed together or not at all."""

    __slots__ = ("alarm", "alarm_changed", "consumes_alarm", "deletes", "puts")

    def __init__(self, consumes_alarm: bool = False) -> None:
        self.puts: dict[str, str] = {}
        self.deletes: set[str] = set()
        self.consumes_alarm = consumes_alarm
        # An alarm run removes the alarm that fired, unless it schedules another.
        self.alarm_changed = consumes_alarm
        self.alarm: float | None = None  # when changed: the new time, or None (cancelled)

    def alarm_change(self) -> AlarmChange | None:
        return AlarmChange(self.alarm) if self.alarm_changed else None

    def discard(self) -> None:
        """Forget every change (and, in a subclass, all output): the run failed."""
        self.discard_writes()

    def discard_writes(self) -> None:
        """Forget the storage writes and the alarm change."""
        self.puts.clear()
        self.deletes.clear()
        self.alarm_changed = self.consumes_alarm
        self.alarm = None


_RUNNING: ContextVar[tuple[int, ...]] = ContextVar("durable_effect_running_instances", default=())
"""The instances whose handler runs are on the current call chain (siblings included)."""


class _Unknown:
    """Not read from storage yet."""


_UNKNOWN = _Unknown()
_NONE: _Succeed[None] = _Succeed(None)


class InstanceCore(ABC, Generic[E, R]):
    """One instance's serialized, transactional handler runs.

    `E` is the package's ctx error (`RoomError`, `TaskError`); `R` its run
    record (a `Tx`, or a subclass that also holds output).
    """

    kind = "instance"
    """What the instance is called in messages and logs (`room`, `task`)."""

    log = logging.getLogger("durable_effect")

    def __init__(self, name: str, id: str, state: type[BaseModel], host: StoreHost) -> None:
        self.id = id
        self.state_model = state
        self.host = host
        self.lock = RunLock()  # no turn of the loop when uncontended
        self._core_name = name
        self._identity_stored = False
        self._run: R | None = None
        # The stored state's JSON as last read or committed: a live instance
        # is the only writer of its storage, so it reads it at most once.
        self._stored_state: str | _Unknown | None = _UNKNOWN
        self._services: Mapping[type, object] | None = None

    # -- what a package supplies -------------------------------------------------------------

    @abstractmethod
    def _new_run(self, consumes_alarm: bool) -> R:
        """The record of a new run."""

    def _released(self, run: R) -> None:
        """After a run: send what it made (it committed, or its output was discarded)."""

    @abstractmethod
    def _error(self, message: str) -> E:
        """The ctx error (storage, alarm or schema failure)."""

    @abstractmethod
    def _execution_error(self, message: str, cause: BaseException | None) -> TaggedError:
        """The error of a handler that failed with nothing handling it."""

    @abstractmethod
    def _passes_through(self, err: object) -> bool:
        """True for a handler's error a direct caller gets as it is."""

    @abstractmethod
    def _wrap(self, eff: HandlerResult) -> HandlerResult:
        """The handler's effect with its bundle's services provided."""

    @abstractmethod
    async def _base_services(self) -> Success[Mapping[type, object]] | Failure[object]:
        """The services every handler of the package runs with."""

    @abstractmethod
    async def fire_alarm(self, retry_count: int = 0, *, direct: bool = False, consume: bool = False) -> bool:
        """Run the instance's alarm channel (see `_fire_alarm`); True on success."""

    async def _prepare(self) -> None:
        """Before a run of an entry point: the instance's identity is stored."""
        await self._store_identity()

    async def _settle(self) -> None:
        """After a run of an entry point."""

    # -- transactional runs --------------------------------------------------------------------

    async def _execute(
        self, channel: Channel, args: tuple[Any, ...], *, consumes_alarm: bool = False
    ) -> Success[object] | Failure[object]:
        """Run a handler (and its on_error) as one atomic run: its storage
        writes and alarm change (and, in rooms, connection states) are
        committed together, and only then is its output released. A run that
        fails, or whose commit fails, leaves no trace."""
        run = self._new_run(consumes_alarm)
        self._run = run
        running = _RUNNING.set((*_RUNNING.get(), id(self)))
        try:
            outcome = await self._run_handler(channel.handler, args)
            purged = False
            if type(outcome) is not Success:
                outcome, purged = await self._after_failure(channel, args, run, outcome)
            if not purged and type(outcome) is Success and (run.puts or run.deletes or run.alarm_changed):
                # A run that changed nothing in storage has nothing to commit.
                try:
                    started = time.perf_counter()
                    await self.host.commit(run.puts, run.deletes, run.alarm_change())
                    self._committed(time.perf_counter() - started)
                    if STATE_KEY in run.puts:
                        self._stored_state = run.puts[STATE_KEY]
                    elif STATE_KEY in run.deletes:
                        self._stored_state = None
                except Exception as exc:
                    err = self._execution_error(f"the run's writes could not be committed: {exc}", exc)
                    outcome = Failure(Fail(err))
            if type(outcome) is not Success:
                run.discard()
        finally:
            _RUNNING.reset(running)
            self._run = None
        self._released(run)
        return outcome

    async def _after_failure(
        self, channel: Channel, args: tuple[Any, ...], run: R, outcome: Success[object] | Failure[object]
    ) -> tuple[Success[object] | Failure[object], bool]:
        """A failed handler: its on_error runs in its place, or a purge happens
        (then True: the purge has written everything there is to write)."""
        if isinstance(outcome, Failure) and not _is_purge(outcome.cause):
            if channel.on_error is not None:
                # The failed handler's writes and output are dropped: on_error
                # starts from the stored state, and only its own run commits.
                run.discard()
                err = _error_of(outcome.cause)
                outcome = await self._run_handler(channel.on_error, (args[0], err))
        if isinstance(outcome, Failure) and _is_purge(outcome.cause):
            # Purge deletes everything; what the run sent before it still goes out.
            run.discard_writes()
            await self._do_purge()
            return Success(None), True
        return outcome, False

    async def _run_handler(
        self, fn: Callable[..., HandlerResult], args: tuple[Any, ...]
    ) -> Success[object] | Failure[object]:
        try:
            eff = self._wrap(fn(*args))
        except Exception as exc:
            return Failure(Die(exc))
        if not isinstance(eff, Effect):
            return Failure(Die(TypeError(f"a handler must return an Effect, got {type(eff).__name__}")))
        services = self._services
        if services is None:
            built = await self._base_services()
            if isinstance(built, Failure):
                return built
            services = self._services = {
                **built.value,
                Storage: InstanceStorage(self),
                Alarm: InstanceAlarm(self),
            }
        result: Success[object] | Failure[object] = await run_loop(eff, services)
        return result

    def _committed(self, seconds: float) -> None:
        """A run's commit took `seconds` (a hook for a host's metrics)."""

    def _report(self, channel: str, outcome: Success[object] | Failure[object]) -> None:
        """Log a failed run: name, id, channel, the error's type and message, and the whole cause."""
        if isinstance(outcome, Failure):
            self.log.error(
                "%s %s/%s: %s failed: %s\n%s",
                self.kind,
                self._core_name,
                self.id,
                channel,
                summary(outcome.cause),
                outcome.cause.pretty(),
            )

    def _raise_outcome(self, outcome: Success[object] | Failure[object]) -> None:
        """A direct caller's view of a run: nothing, or its failure raised."""
        if isinstance(outcome, Success):
            return
        cause = outcome.cause
        failures = cause.failures()
        if failures:
            err = failures[0]
            if isinstance(err, BaseException) and self._passes_through(err):
                raise err
            raise self._execution_error(f"handler failed with {err!r}", err if isinstance(err, BaseException) else None)
        if cause.is_interrupted_only():
            raise self._execution_error("handler was interrupted", None)
        defect = cause.squash()
        raise self._execution_error(f"handler raised {defect!r}", defect)

    def _direct(self) -> RunLock:
        """The instance's lock, for a direct-API call to hold. A call from one of
        this instance's own handler runs (directly or through siblings) would
        wait for itself forever: it fails at once instead."""
        if id(self) in _RUNNING.get():
            raise self._error(
                f"{self.kind} {self._core_name}/{self.id} called itself through the client while one of its "
                f"handlers runs; {self._self_call_hint()}"
            )
        return self.lock

    def _self_call_hint(self) -> str:
        return "use ctx (recall, save) inside a handler instead"

    # -- alarms --------------------------------------------------------------------------------

    async def _fire_alarm(
        self,
        channel: Channel | None,
        ctx: Callable[[SystemFailure | None], object],
        retry_count: int,
        *,
        direct: bool,
        consume: bool,
    ) -> bool:
        """Run the alarm channel. Returns True on success; a direct call raises the failure.

        With `consume`, the stored alarm is removed by the run's own commit
        (unless the run schedules another), so an alarm whose run fails or
        never finishes stays stored and fires again: at-least-once."""
        async with self._direct() if direct else self.lock:
            await self._prepare()
            if channel is None:
                if consume:
                    await self.host.commit({}, (), AlarmChange(None))
                return True
            failure = (
                SystemFailure(f"alarm retry {retry_count} after a failure", retry_count) if retry_count > 0 else None
            )
            outcome = await self._execute(channel, (ctx(failure),), consumes_alarm=consume)
            await self._settle()
            if direct:
                self._raise_outcome(outcome)
            if isinstance(outcome, Failure):
                self._report("on_alarm", outcome)
                return False
            return True

    # -- storage -------------------------------------------------------------------------------

    async def _store_identity(self) -> None:
        if self._identity_stored:
            return
        self._identity_stored = True
        if await self.host.load(IDENTITY_KEY) is None:
            identity = json.dumps({self.kind: self._core_name, "id": self.id})
            await self.host.commit({IDENTITY_KEY: identity}, (), None)

    def _written(self, key: str) -> str | _Unknown | None:
        """The current run's own write of `key` (None: deleted), or `_UNKNOWN` if it has none."""
        run = self._run
        if run is not None:
            if key in run.puts:
                return run.puts[key]
            if key in run.deletes:
                return None
        return _UNKNOWN

    def _state_json(self) -> str | _Unknown | None:
        """The state's JSON as the current run sees it: its own write, else the stored
        state kept in memory (`_UNKNOWN` until storage is first read)."""
        raw = self._written(STATE_KEY)
        return self._stored_state if isinstance(raw, _Unknown) else raw

    async def _load_state(self) -> BaseModel | None:
        raw = self._state_json()
        if isinstance(raw, _Unknown):
            raw = self._stored_state = await self.host.load(STATE_KEY)
        return None if raw is None else decode_model(self.state_model, raw)

    async def get_state(self) -> BaseModel | None:
        """The stored state (direct API)."""
        async with self._direct():
            try:
                return await self._load_state()
            except (ValidationError, ValueError) as exc:
                raise self._unreadable_state(exc) from None

    async def _do_purge(self) -> None:
        self._stored_state = _UNKNOWN
        await self.host.delete_all()
        await self.host.commit({}, (), AlarmChange(None))
        self._identity_stored = False

    # -- ctx operations (as effects) --------------------------------------------------------

    def recall(self) -> Effect[Any, E]:
        return suspend(self._state_now)

    def _state_now(self) -> Effect[Any, E]:
        """The state as the current run sees it. Decoded from the JSON kept in
        memory (the run's own write, or the stored state): no await, unless the
        instance has not read its storage yet."""
        raw = self._state_json()
        if isinstance(raw, _Unknown):
            return _Async(self._recall_from_storage)
        if raw is None:
            return _NONE
        try:
            return _Succeed(decode_model(self.state_model, raw))
        except (ValidationError, ValueError) as exc:
            return _Fail(Fail(self._unreadable_state(exc)))

    async def _recall_from_storage(self, _: Mapping[type, object]) -> Success[Any] | Failure[E]:
        try:
            return Success(await self._load_state())
        except (ValidationError, ValueError) as exc:
            return Failure(Fail(self._unreadable_state(exc)))

    def _unreadable_state(self, exc: Exception) -> E:
        return self._error(f"stored state does not match the state schema: {exc}")

    def save(self, state: BaseModel) -> Effect[None, E]:
        return suspend(lambda: self._save_now(state))

    def _save_now(self, state: BaseModel) -> Effect[None, E]:
        try:
            model = validate_model(self.state_model, state)
        except ValidationError as exc:
            return _Fail(Fail(self._error(f"state does not match {self.state_model.__name__}: {exc}")))
        self._write(STATE_KEY, encode_model(model))
        return _NONE

    def update(self, f: Callable[[Any], Any]) -> Effect[None, E]:
        def apply(state: Any) -> Effect[None, E]:
            return _NONE if state is None else self._save_now(f(state))

        def run() -> Effect[None, E]:
            current = self._state_now()
            # The usual case is a value already: one step, no await.
            return apply(current.value) if type(current) is _Succeed else current.flat_map(apply)

        return suspend(run)

    def load_key(self, key: str) -> Effect[str | None]:
        """A stored value as this run sees it (its own writes included)."""

        async def run(_: Mapping[type, object]) -> Success[str | None]:
            written = self._written(key)
            return Success(await self.host.load(key) if isinstance(written, _Unknown) else written)

        return _Async(run)

    def write_key(self, key: str, value: str | None) -> Effect[None]:
        """Write (or, with None, delete) a key in this run's transaction."""

        def run() -> None:
            pending = self._run
            if pending is None:
                raise RuntimeError(f"{self.kind} storage can only be written while a handler runs")
            if value is None:
                pending.puts.pop(key, None)
                pending.deletes.add(key)
            else:
                self._write(key, value)

        return _Sync(run)

    def _write(self, key: str, value: str) -> None:
        run = self._run
        if run is None:
            raise RuntimeError(f"{self.kind} storage can only be written while a handler runs")
        run.puts[key] = value
        run.deletes.discard(key)

    def schedule_in(self, duration: DurationInput) -> Effect[None, E]:
        try:
            millis = Duration.decode(duration).millis
        except ValueError as exc:
            return _Fail(Fail(self._error(str(exc))))
        return self._alarm_op(lambda: self._set_alarm(self.host.now_ms() + millis))

    def schedule_at(self, when: datetime | float) -> Effect[None, E]:
        at = when.timestamp() * 1_000.0 if isinstance(when, datetime) else float(when)
        return self._alarm_op(lambda: self._set_alarm(at))

    def cancel_schedule(self) -> Effect[None, E]:
        return self._alarm_op(lambda: self._set_alarm(None))

    def next_alarm(self) -> Effect[float | None, E]:
        return self._alarm_op(self._get_alarm)

    async def _set_alarm(self, at: float | None) -> None:
        """Inside a run the alarm is part of its transaction; outside, immediate."""
        run = self._run
        if run is not None:
            run.alarm, run.alarm_changed = at, True
        else:
            await self.host.commit({}, (), AlarmChange(at))

    async def _get_alarm(self) -> float | None:
        run = self._run
        if run is not None and run.alarm_changed:
            return run.alarm
        return await self.host.get_alarm()

    def _alarm_op(self, op: Callable[[], Awaitable[Any]]) -> Effect[Any, E]:
        async def run(_: Mapping[type, object]) -> Success[Any] | Failure[E]:
            try:
                return Success(await op())
            except Exception as exc:
                return Failure(Fail(self._error(f"alarm operation failed: {exc}")))

        return _Async(run)

    def purge(self) -> Effect[Never, PurgeSignal]:
        return _Fail(Fail(PurgeSignal()))


AnyCore = InstanceCore[Any, Any]


class InstanceStorage(Storage):
    """The `Storage` service of one instance: keys under `USER_KEY_PREFIX`, written in the run's transaction."""

    __slots__ = ("_instance",)

    def __init__(self, instance: AnyCore) -> None:
        self._instance = instance

    def get(self, key: str) -> Effect[str | None]:
        return self._instance.load_key(USER_KEY_PREFIX + key)

    def put(self, key: str, value: str) -> Effect[None]:
        return self._instance.write_key(USER_KEY_PREFIX + key, value)

    def delete(self, key: str) -> Effect[None]:
        return self._instance.write_key(USER_KEY_PREFIX + key, None)


class InstanceAlarm(Alarm):
    """The `Alarm` service of one instance: its one alarm, changed in the run's transaction."""

    __slots__ = ("_instance",)

    def __init__(self, instance: AnyCore) -> None:
        self._instance = instance

    def get(self) -> Effect[float | None]:
        return self._instance.next_alarm().or_die()

    def set(self, at_ms: float) -> Effect[None]:
        return self._instance.schedule_at(at_ms).or_die()

    def delete(self) -> Effect[None]:
        return self._instance.cancel_schedule().or_die()


# -- helpers --------------------------------------------------------------------------------


def direct_call(
    run: Callable[[], Awaitable[T]],
    host_error: Callable[[str], TaggedError],
    missing: TaggedError | None = None,
) -> Effect[T, Any]:
    """A direct-API call as an effect: its typed errors in the error channel, and a
    host's `OSError`/`RuntimeError` as `host_error` (`RoomError`, `TaskError`).
    With `missing` (the name is not registered), it fails with that and never runs."""

    async def go(_: Mapping[type, object]) -> Success[T] | Failure[Any]:
        if missing is not None:
            return Failure(Fail(missing))
        try:
            return Success(await run())
        except TaggedError as err:
            return Failure(Fail(err))
        except (OSError, RuntimeError) as exc:
            return Failure(Fail(host_error(f"host failure: {exc}")))

    return _Async(go)


def decode_model(model: type[M], raw: str | bytes) -> M:
    """`model.model_validate_json(raw)`, straight to pydantic-core (it skips the keyword handling)."""
    decoded: M = model.__pydantic_validator__.validate_json(raw)
    return decoded


def encode_model(value: BaseModel) -> str:
    """`value.model_dump_json(by_alias=True)`, straight to pydantic-core: same text, a third of the time."""
    return type(value).__pydantic_serializer__.to_json(value, by_alias=True).decode()


def validate_model(model: type[BaseModel], value: object) -> BaseModel:
    """`value` as an instance of `model` (as it is when it already is one); raises `ValidationError`."""
    if type(value) is model:
        assert isinstance(value, BaseModel)
        return value
    data = value.model_dump() if isinstance(value, BaseModel) else value
    return model.model_validate(data)


def _is_purge(cause: Cause[object]) -> bool:
    return isinstance(cause, Fail) and isinstance(cause.error, PurgeSignal)


def _error_of(cause: Cause[object]) -> object:
    failures = cause.failures()
    if failures:
        return failures[0]
    return cause.squash()


def summary(cause: Cause[object]) -> str:
    """`Type: message` of the cause's first error (or defect), or `interrupted`."""
    failures = cause.failures()
    if failures:
        err = failures[0]
        return f"{type(err).__name__}: {err}"
    defects = cause.defects()
    if defects:
        return f"{type(defects[0]).__name__}: {defects[0]}"
    return "interrupted"
