"""Small rooms for the contract suite, and a `Probe` that records what handlers saw.

`Lab` is the workhorse: its events drive every room operation (state, broadcast
filters, per-connection sends, connection state, closes, alarms, purge, sibling
dispatch, services) and its handlers write what they observe into a `Probe`.
`Ledger` is a sibling room that reuses Lab's `_tag` names ("Inc", "Said").
`Camel` declares camelCase wire names and one-member unions.

Nothing here is host-specific: the suite runs these rooms on whatever runtime
the `make_runtime` fixture (tests/sockets/conftest.py) gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Never, TypeVar

import anyio
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from durable_effect.effect import (
    Effect,
    EffectGen,
    Layer,
    Service,
    TaggedError,
    catch_tag,
    current_time_millis,
    gen,
    promise,
    run_promise,
    sleep,
    sync,
)
from durable_effect.sockets import (
    AttachmentTooLargeError,
    BroadcastError,
    Connection,
    ConnectionInit,
    Handler,
    InMemorySocketRuntime,
    RoomCtx,
    RoomHandlers,
    RoomValidationError,
    Schema,
    SendError,
    SocketConfig,
    SocketRegistry,
    SystemFailure,
    TaggedStruct,
    UpgradeOpts,
    WebSocketRoom,
    with_services,
)
from durable_effect.sockets.testing import TestConnection

E = TypeVar("E")

ROOM = "r1"
"""The instance id most stories use."""

# -- Lab ------------------------------------------------------------------------------------


class LabState(BaseModel):
    count: int = 0


class LabConn(BaseModel):
    name: str
    note: str = ""


class Inc(TaggedStruct, tag="Inc"):
    """Add `by` to the count (creates the state when there is none)."""

    by: int = 1


class Shout(TaggedStruct, tag="Shout"):
    """Broadcast `Said(text)` with the given filters (connection ids)."""

    text: str
    to: list[str] | None = None
    exclude: list[str] | None = None
    exclude_one: str | None = None
    only_tag: str | None = None


class Whisper(TaggedStruct, tag="Whisper"):
    """`conn.send(Said(text))` to the connection with id `to`."""

    to: str
    text: str


class SetNote(TaggedStruct, tag="SetNote"):
    """`conn.set_state` on the sender with a new note."""

    note: str


Action = Literal[
    "close",
    "boom",
    "refuse",
    "save_then_fail",
    "change_then_fail",
    "wipe",
    "slow",
    "whoami",
    "unschedule",
    "census",
    "bump",
    "self_call",
    "say_count",
    "say_then_fail",
    "close_then_fail",
    "nap",
]


class Do(TaggedStruct, tag="Do"):
    """One of the small scripted actions (see `lab_on_event`)."""

    action: Action
    code: int = 4000


class Schedule(TaggedStruct, tag="Schedule"):
    in_ms: int | None = None
    at_ms: float | None = None


class Ask(TaggedStruct, tag="Ask"):
    """Sibling dispatch: credit the Ledger instance `ledger_id`."""

    ledger_id: str
    amount: int


class Greet(TaggedStruct, tag="Greet"):
    """Broadcast the `Greeter` service's greeting."""

    name: str


LabEvent = Inc | Shout | Whisper | SetNote | Do | Schedule | Ask | Greet


class Said(TaggedStruct, tag="Said"):
    text: str
    by: str


class Joined(TaggedStruct, tag="Joined"):
    name: str


class Left(TaggedStruct, tag="Left"):
    name: str


LabBroadcast = Said | Joined | Left

Lab = WebSocketRoom.make(
    "lab",
    state=LabState,
    connection=LabConn,
    event=Schema.union(Inc, Shout, Whisper, SetNote, Do, Schedule, Ask, Greet),
    broadcast=Schema.union(Said, Joined, Left),
)

# -- Ledger (reuses the tags "Inc" and "Said" with other fields) ----------------------------


class LedgerState(BaseModel):
    balance: int = 0


class LedgerConn(BaseModel):
    name: str


class Credit(TaggedStruct, tag="Inc"):
    amount: int


class LedgerSaid(TaggedStruct, tag="Said"):
    line: str


Ledger = WebSocketRoom.make(
    "ledger",
    state=LedgerState,
    connection=LedgerConn,
    event=Schema.union(Credit),
    broadcast=Schema.union(LedgerSaid),
)

registry = SocketRegistry.make(Lab, Ledger)

# -- Camel (camelCase wire names, one-member unions) -----------------------------------------

CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CamelState(BaseModel):
    model_config = CAMEL
    total_count: int = 0


class CamelConn(BaseModel):
    model_config = CAMEL
    display_name: str


class Ping(TaggedStruct, tag="Ping"):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)
    reply_text: str


class Pong(TaggedStruct, tag="Pong"):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)
    pong_count: int
    reply_text: str


Camel = WebSocketRoom.make(
    "camel",
    state=CamelState,
    connection=CamelConn,
    event=Schema.union(Ping),
    broadcast=Schema.union(Pong),
)

camel_registry = SocketRegistry.make(Camel)

# -- the probe --------------------------------------------------------------------------------


class Nope(TaggedError):
    """A typed handler failure."""

    reason: str


class Greeter(Service):
    """A user service handlers ask for with `yield from Greeter`."""

    def greet(self, name: str) -> str:
        raise NotImplementedError


class Polite(Greeter):
    def greet(self, name: str) -> str:
        return f"hello, {name}"


def greeter_layer() -> Layer[Greeter, Never, Never]:
    return Layer.succeed(Greeter, Polite())


@dataclass
class WhoAmI:
    """What `Do("whoami")` saw of `ctx.connection`."""

    id: str | None
    state: LabConn | None
    meta: dict[str, Any] | None


@dataclass
class Probe:
    """What the handlers saw, in order. Also knobs that steer them."""

    log: list[str] = field(default_factory=list)
    meta_seen: list[dict[str, Any] | None] = field(default_factory=list)
    ids_during_connect: list[list[str]] = field(default_factory=list)
    conns: dict[str, Connection[LabConn, LabBroadcast]] = field(default_factory=dict)
    whoami: list[WhoAmI] = field(default_factory=list)
    errors: list[object] = field(default_factory=list)
    broadcast_errors: list[BroadcastError] = field(default_factory=list)
    send_errors: list[SendError] = field(default_factory=list)
    decode_errors: list[tuple[str, str]] = field(default_factory=list)
    validation_errors: list[RoomValidationError] = field(default_factory=list)
    next_alarms: list[float | None] = field(default_factory=list)
    alarm_runs: list[SystemFailure | None] = field(default_factory=list)
    ledger_states: list[LedgerState | None] = field(default_factory=list)
    census: list[dict[str, object]] = field(default_factory=list)
    self_calls: list[object] = field(default_factory=list)
    gate: anyio.Event = field(default_factory=anyio.Event)
    connect_fails: bool = False
    alarm_failures_left: int = 0


LabCtx = RoomCtx[LabState, LabConn, LabEvent, LabBroadcast]
OnError = Literal["none", "record", "fail", "notify"]


def lab_handlers(
    probe: Probe, *, on_error: OnError = "none", decode_handler: bool = True, connect_on_error: bool = False
) -> RoomHandlers[LabState, LabConn, LabEvent, LabBroadcast]:
    """Lab's handlers, recording into `probe`.

    `on_error`: "none" (no on_error), "record" (on_error records the error and
    recovers), "notify" (records, then tells the sender) or "fail" (on_error
    records, then fails itself).
    `connect_on_error`: on_connect gets an on_error that records and closes the socket with 1011.
    """
    c = registry.for_(Lab)

    @c.on_connect
    @gen
    def on_connect(ctx: LabCtx) -> EffectGen[None, object]:
        conn = ctx.connection
        assert conn is not None
        probe.log.append(f"connect:{conn.id}")
        probe.meta_seen.append(conn.meta)
        probe.ids_during_connect.append([c.id for c in ctx.connections.all()])
        probe.conns[conn.id] = conn
        if probe.connect_fails:
            yield from Nope("connect refused")
        yield from ctx.broadcast(Joined(name=conn.state.name), except_=conn)

    @c.on_close
    @gen
    def on_close(ctx: LabCtx) -> EffectGen[None, object]:
        conn = ctx.connection
        assert conn is not None
        probe.log.append(f"close:{conn.id}:others={[c.id for c in ctx.connections.all()]}")
        yield from ctx.broadcast(Left(name=conn.state.name), except_=conn)

    @c.on_event
    @gen
    def on_event(ctx: LabCtx, ev: LabEvent) -> EffectGen[None, object, Greeter]:
        conn = ctx.connection
        who = conn.id if conn is not None else "api"
        match ev:
            case Inc(by=by):
                state = yield from ctx.recall()
                yield from ctx.save(LabState(count=(state.count if state else 0) + by))
            case Shout():
                yield from _shout(ctx, ev, who).pipe(catch_tag(BroadcastError, _record(probe.broadcast_errors)))
            case Whisper(to=to, text=text):
                target = ctx.connections.by_id(to)
                assert target is not None
                yield from target.send(Said(text=text, by=who)).pipe(catch_tag(SendError, _record(probe.send_errors)))
            case SetNote(note=note):
                assert conn is not None
                keep_error = _record(probe.errors)
                yield from conn.set_state(LabConn(name=conn.state.name, note=note)).pipe(
                    catch_tag(AttachmentTooLargeError, keep_error)
                )
            case Schedule(in_ms=in_ms, at_ms=at_ms):
                if in_ms is not None:
                    yield from ctx.schedule_in(in_ms)
                if at_ms is not None:
                    yield from ctx.schedule_at(at_ms)
                probe.next_alarms.append((yield from ctx.next_alarm()))
            case Ask(ledger_id=ledger_id, amount=amount):
                ledger = ctx.room(Ledger)
                yield from ledger.send(ledger_id, Credit(amount=amount))
                probe.ledger_states.append((yield from ledger.get_state(ledger_id)))
                yield from ledger.broadcast(ledger_id, LedgerSaid(line=f"{who} credited {amount}"))
            case Greet(name=name):
                greeter = yield from Greeter
                yield from ctx.broadcast(Said(text=greeter.greet(name), by="greeter"))
            case Do(action=action, code=code):
                yield from _do(ctx, probe, action, code, who)
        probe.log.append(f"event:{ev._tag}:{who}:done")

    @c.on_alarm
    @gen
    def on_alarm(ctx: LabCtx) -> EffectGen[None, object]:
        probe.alarm_runs.append(ctx.system_failure)
        probe.next_alarms.append((yield from ctx.next_alarm()))
        if probe.alarm_failures_left > 0:
            probe.alarm_failures_left -= 1
            yield from Nope("alarm failed")
        yield from ctx.update(lambda s: LabState(count=s.count + 100))

    @c.on_decode_error
    @gen
    def on_decode_error(ctx: LabCtx, raw: str, error: RoomValidationError) -> EffectGen[None, object]:
        probe.decode_errors.append((raw, type(error).__name__))
        probe.validation_errors.append(error)
        yield from sync(lambda: None)

    @gen
    def record_error(ctx: LabCtx, err: object) -> EffectGen[None, object]:
        probe.errors.append(err)
        if on_error == "fail":
            yield from Nope("on_error failed too")
        if on_error == "notify" and ctx.connection is not None:
            yield from ctx.connection.send(Said(text=f"error:{type(err).__name__}", by="on_error"))

    @gen
    def close_on_connect_error(ctx: LabCtx, err: object) -> EffectGen[None, object]:
        probe.errors.append(err)
        assert ctx.connection is not None
        yield from ctx.connection.close(1011, "on_connect failed")

    event_channel = on_event if on_error == "none" else Handler(on_event, on_error=record_error)
    connect_channel = Handler(on_connect, on_error=close_on_connect_error) if connect_on_error else on_connect
    return registry.handler(
        Lab,
        on_connect=connect_channel,
        on_event=event_channel,
        on_close=on_close,
        on_alarm=on_alarm,
        on_decode_error=on_decode_error if decode_handler else None,
    )


def _record(into: list[E]) -> Callable[[E], Effect[None]]:
    """A `catch_tag` recovery that records the error (and recovers)."""
    return lambda err: sync(lambda: into.append(err))


@gen
def _shout(ctx: LabCtx, ev: Shout, who: str) -> EffectGen[None, BroadcastError]:
    def pick(ids: Sequence[str]) -> list[Connection[LabConn, LabBroadcast]]:
        return [c for c in ctx.connections.all() if c.id in ids]

    msg = Said(text=ev.text, by=who)
    to = pick(ev.to) if ev.to is not None else None
    except_: Connection[LabConn, LabBroadcast] | list[Connection[LabConn, LabBroadcast]] | None = None
    if ev.exclude is not None:
        except_ = pick(ev.exclude)
    elif ev.exclude_one is not None:
        except_ = ctx.connections.by_id(ev.exclude_one)
    yield from ctx.broadcast(msg, to=to, except_=except_, tag=ev.only_tag)


@gen
def _do(ctx: LabCtx, probe: Probe, action: Action, code: int, who: str) -> EffectGen[None, object]:
    conn = ctx.connection
    if action == "close":
        assert conn is not None
        yield from conn.close(code, "asked to close")
        probe.log.append(f"close-requested:{who}")
    elif action == "boom":
        raise RuntimeError("boom")
    elif action == "refuse":
        yield from Nope("refused")
    elif action == "save_then_fail":
        yield from ctx.save(LabState(count=999))
        yield from Nope("after save")
    elif action == "change_then_fail":
        assert conn is not None
        yield from ctx.schedule_in(5_000)
        yield from conn.set_state(LabConn(name=conn.state.name, note="changed"))
        probe.next_alarms.append((yield from ctx.next_alarm()))
        yield from Nope("after changes")
    elif action == "say_count":
        state = yield from ctx.recall()
        n = (state.count if state else 0) + 1
        yield from ctx.save(LabState(count=n))
        yield from ctx.broadcast(Said(text=f"count={n}", by=who))
    elif action == "say_then_fail":
        # Every kind of effect a run has, then a failure: none of it may happen.
        assert conn is not None
        state = yield from ctx.recall()
        n = (state.count if state else 0) + 1
        yield from ctx.save(LabState(count=n))
        yield from ctx.broadcast(Said(text=f"count={n}", by=who))
        yield from conn.send(Said(text="just you", by=who))
        yield from ctx.schedule_in(5_000)
        yield from conn.set_state(LabConn(name=conn.state.name, note="changed"))
        yield from Nope("after saying")
    elif action == "close_then_fail":
        assert conn is not None
        yield from conn.close(code, "closed by a failed run")
        yield from Nope("after closing")
    elif action == "wipe":
        yield from ctx.save(LabState(count=-1))
        yield from ctx.purge()
        probe.log.append("after-purge")
    elif action == "slow":
        before = yield from ctx.recall()
        probe.log.append(f"enter:{who}")
        yield from promise(probe.gate.wait)
        yield from ctx.save(LabState(count=(before.count if before else 0) + 1))
        probe.log.append(f"exit:{who}")
    elif action == "whoami":
        meta = conn.meta if conn is not None else None
        probe.whoami.append(WhoAmI(conn.id if conn else None, conn.state if conn else None, meta))
    elif action == "census":
        conns = ctx.connections
        probe.census.append(
            {
                "all": [c.id for c in conns.all()],
                "red": [c.id for c in conns.by_tag("red")],
                "noted": [c.id for c in conns.filter(lambda c: c.state.note != "")],
                "count": conns.count(),
                "alice": conns.by_id("alice") is not None,
            }
        )
    elif action == "bump":
        yield from ctx.update(lambda s: LabState(count=s.count + 10))
    elif action == "self_call":
        result = yield from ctx.room(Lab).send(ROOM, Inc(by=1)).either()
        probe.self_calls.append(result.failure())
    elif action == "unschedule":
        yield from ctx.cancel_schedule()
        probe.next_alarms.append((yield from ctx.next_alarm()))
    elif action == "nap":  # three naps on the Clock, each logged with the time it ended
        for _ in range(3):
            yield from sleep("1 second")
            probe.log.append(f"nap:{(yield from current_time_millis()):.0f}")


def ledger_handlers() -> RoomHandlers[LedgerState, LedgerConn, Credit, LedgerSaid]:
    c = registry.for_(Ledger)

    @c.on_event
    @gen
    def on_event(ctx: RoomCtx[LedgerState, LedgerConn, Credit, LedgerSaid], ev: Credit) -> EffectGen[None, object]:
        state = yield from ctx.recall()
        yield from ctx.save(LedgerState(balance=(state.balance if state else 0) + ev.amount))

    return registry.handler(Ledger, on_event=on_event)


def lab_config(
    probe: Probe,
    *,
    on_error: OnError = "none",
    decode_handler: bool = True,
    connect_on_error: bool = False,
    services: Layer[Any, Any, Any] | None = None,
) -> SocketConfig:
    """The Lab + Ledger config; `services` is given to Lab's handlers with `with_services`."""
    lab = lab_handlers(probe, on_error=on_error, decode_handler=decode_handler, connect_on_error=connect_on_error)
    if services is not None:
        lab = with_services(lab, services)
    return registry.build({"lab": lab, "ledger": ledger_handlers()})


def camel_config() -> SocketConfig:
    c = camel_registry.for_(Camel)
    CamelCtx = RoomCtx[CamelState, CamelConn, Ping, Pong]

    @c.on_connect
    @gen
    def on_connect(ctx: CamelCtx) -> EffectGen[None, object]:
        assert ctx.connection is not None
        if (yield from ctx.recall()) is None:
            yield from ctx.save(CamelState(total_count=0))
        yield from ctx.connection.send(Pong(pong_count=0, reply_text=ctx.connection.state.display_name))

    @c.on_event
    @gen
    def on_event(ctx: CamelCtx, ev: Ping) -> EffectGen[None, object]:
        yield from ctx.update(lambda s: CamelState(total_count=s.total_count + 1))
        state = yield from ctx.recall()
        assert state is not None
        yield from ctx.broadcast(Pong(pong_count=state.total_count, reply_text=ev.reply_text))

    return camel_registry.build({"camel": camel_registry.handler(Camel, on_connect=on_connect, on_event=on_event)})


# -- clients ----------------------------------------------------------------------------------

LabClient = TestConnection[LabConn, LabEvent, LabBroadcast]
OnDuplicate = Literal["allow", "replace", "reject"]


def lab_opts(
    name: str,
    *,
    tags: Sequence[str] = (),
    meta: dict[str, object] | None = None,
    note: str = "",
    on_duplicate: OnDuplicate = "allow",
    conn_id: str | None = None,
) -> UpgradeOpts[LabConn]:
    init = ConnectionInit(id=conn_id or name, tags=tags, meta=meta, initial_state=LabConn(name=name, note=note))
    return UpgradeOpts(connection=init, on_duplicate=on_duplicate)


async def join(rt: InMemorySocketRuntime, name: str, *, room_id: str = ROOM, **kw: Any) -> LabClient:
    """Open a Lab socket for `name` (the connection id is the name)."""
    return await run_promise(rt.testing_connect(Lab, room_id, lab_opts(name, **kw)))


async def parked(rt: InMemorySocketRuntime) -> None:
    """Wait until every frame sent so far reached its instance: handled, running,
    or queued behind the instance's lock (over real sockets, frames travel first)."""
    wait_received = getattr(rt, "wait_received", None)
    if wait_received is not None:
        await wait_received()
    await anyio.wait_all_tasks_blocked()
