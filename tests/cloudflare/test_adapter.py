"""What the Durable Object adapter itself must get right, on the fake runtime:
rehydration, alarms and their retries, cold wakes, purge, duplicates, the close
handshake, closing sockets, and the fetch protocol of the namespace client."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from durable_effect.effect import EffectGen, Failure, Layer, Service, gen, run_promise, run_promise_exit, sync
from durable_effect.sockets import (
    AttachmentTooLargeError,
    BroadcastError,
    ConnectionInit,
    EngineOptions,
    RoomCtx,
    RoomError,
    RoomExecutionError,
    RoomNotFoundError,
    RoomValidationError,
    Schema,
    SocketRegistry,
    SystemFailure,
    TaggedStruct,
    UpgradeError,
    UpgradeOpts,
    WebSocketRoom,
)
from durable_effect.sockets.cloudflare import AlarmFailed, CloudflareEnv
from durable_effect.sockets.cloudflare.client import NamespaceBackend
from durable_effect.sockets.cloudflare.fake import CLOSED, CLOSING, AlarmInfo, FakeRequest, FakeResponse, JsError
from durable_effect.sockets.cloudflare.protocol import UPGRADE_HEADER, encode_upgrade_opts, op_url
from durable_effect.sockets.cloudflare.testing import (  # noqa: F401  (cloudflare_runtime: the fixture)
    CloudflareRuntimeFactory,
    CloudflareTestRuntime,
    cloudflare_runtime,
)
from tests.sockets.rooms import (
    ROOM,
    Do,
    Inc,
    Lab,
    LabConn,
    LabState,
    Nope,
    Probe,
    Said,
    Schedule,
    SetNote,
    lab_config,
    lab_opts,
)

pytestmark = pytest.mark.anyio

NAME = f"lab:{ROOM}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def probe_rt() -> AsyncIterator[tuple[Probe, CloudflareTestRuntime]]:
    probe = Probe()
    rt = CloudflareTestRuntime(lab_config(probe))
    try:
        yield probe, rt
    finally:
        await rt.aclose()


def live_core(rt: CloudflareTestRuntime, name: str = NAME) -> Any:
    """The adapter inside the Durable Object instance currently in memory."""
    return rt.world.live[(rt.binding, name)]._core


async def test_a_woken_object_rebuilds_its_connections_in_the_constructor(
    probe_rt: tuple[Probe, CloudflareTestRuntime],
) -> None:
    probe, rt = probe_rt
    alice = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice", tags=["red"], note="a")))
    bob = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("bob", note="b")))
    await run_promise(rt.hibernate(Lab, ROOM))
    assert (rt.binding, NAME) not in rt.world.live
    constructed = rt.world.constructed

    # The platform constructs a new instance for the next event; before any handler
    # runs, its connections are back, read from the sockets' tags and attachments.
    rt.world.instance(rt.binding, NAME)
    assert rt.world.constructed == constructed + 1
    conns = live_core(rt).instance.live_connections()
    assert [(c.id, c.tags, c.state) for c in conns] == [
        ("alice", ("red",), LabConn(name="alice", note="a")),
        ("bob", (), LabConn(name="bob", note="b")),
    ]

    await run_promise(alice.receive(Do(action="whoami")))
    assert probe.whoami[-1].id == "alice" and probe.whoami[-1].state == LabConn(name="alice", note="a")
    # on_connect ran once per socket, at the upgrade, never on the wake.
    assert [e for e in probe.log if e.startswith("connect:")] == ["connect:alice", "connect:bob"]
    assert bob.is_open()


async def test_attachments_are_json_strings_and_tags_a_javascript_array(
    probe_rt: tuple[Probe, CloudflareTestRuntime],
) -> None:
    _, rt = probe_rt
    await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice", tags=["red", "blue"], note="n")))
    (server,) = rt.sockets("lab", ROOM)
    assert server.tags == ["alice", "red", "blue"]
    attachment = server.deserializeAttachment()
    assert isinstance(attachment, str)
    assert json.loads(attachment) == {"id": "alice", "tags": ["red", "blue"], "state": {"name": "alice", "note": "n"}}


async def test_a_failed_alarm_raises_so_the_platform_retries_with_system_failure(
    probe_rt: tuple[Probe, CloudflareTestRuntime],
) -> None:
    probe, rt = probe_rt
    probe.alarm_failures_left = 1
    await run_promise(rt.room(Lab).send(ROOM, Inc(by=1)))

    async def alarm(info: AlarmInfo | None) -> None:
        await live_core(rt).alarm(info)

    rt.world.instance(rt.binding, NAME)
    with pytest.raises(AlarmFailed):
        await alarm(None)
    await alarm(AlarmInfo(retryCount=3, isRetry=True))
    first, retry = probe.alarm_runs
    assert first is None
    assert isinstance(retry, SystemFailure) and retry.retry_count == 3
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=101)


async def test_platform_retries_back_off_from_two_seconds(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    probe, rt = probe_rt
    probe.alarm_failures_left = 2
    await run_promise(rt.room(Lab).send(ROOM, Schedule(in_ms=1_000)))
    assert await run_promise(rt.advance("1 second")) == 1
    obj = rt.world.object_data(rt.binding, NAME)
    assert obj.retries == 1 and obj.alarm == rt.clock.now_ms() + 2_000
    assert await run_promise(rt.advance("2 seconds")) == 1
    assert obj.retries == 2 and obj.alarm == rt.clock.now_ms() + 4_000
    assert await run_promise(rt.advance("4 seconds")) == 1
    assert obj.retries == 0 and obj.alarm is None
    assert [r.retry_count if r else 0 for r in probe.alarm_runs] == [0, 1, 2]


async def test_a_cold_alarm_wake_reads_the_stored_identity(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    probe, rt = probe_rt
    await run_promise(rt.room(Lab).send(ROOM, Inc(by=1)))
    await run_promise(rt.room(Lab).send(ROOM, Schedule(in_ms=500)))
    await run_promise(rt.hibernate(Lab, ROOM))

    assert await run_promise(rt.advance("1 second")) == 1
    core = live_core(rt)
    assert core.ctx.id.name is None  # the platform gave no name on this wake
    assert core.key == ("lab", ROOM)
    assert probe.alarm_runs == [None]
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=101)


async def test_an_alarm_with_no_stored_identity_is_dropped(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    probe, rt = probe_rt
    obj = rt.world.object_data(rt.binding, "lab:never-used")
    obj.alarm = rt.clock.now_ms() + 10
    assert await run_promise(rt.advance("1 second")) == 1
    assert obj.retries == 0 and obj.alarm is None  # not raised: nothing to retry
    assert probe.alarm_runs == []


async def test_purge_calls_delete_all_and_delete_alarm(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    _, rt = probe_rt
    await run_promise(rt.room(Lab).send(ROOM, Inc(by=2)))
    await run_promise(rt.room(Lab).send(ROOM, Schedule(in_ms=60_000)))
    obj = rt.world.object_data(rt.binding, NAME)
    assert obj.data and obj.alarm is not None
    obj.calls.clear()

    await run_promise(rt.room(Lab).send(ROOM, Do(action="wipe")))
    assert "deleteAll" in obj.calls and "deleteAlarm" in obj.calls
    assert obj.data == {} and obj.alarm is None
    assert await run_promise(rt.room(Lab).get_state(ROOM)) is None


async def test_reject_answers_409_and_accepts_nothing(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    probe, rt = probe_rt
    await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice")))
    stub = rt.namespace.get(rt.namespace.idFromName(NAME))
    opts = encode_upgrade_opts(lab_opts("alice", on_duplicate="reject"))
    request = FakeRequest(op_url("lab", ROOM, "upgrade"), headers={"Upgrade": "websocket", UPGRADE_HEADER: opts})
    response = await stub.fetch(request)
    assert response.status == 409 and response.webSocket is None
    assert json.loads(await response.text())["error"]["_tag"] == "UpgradeError"
    assert len(rt.sockets("lab", ROOM)) == 1
    assert probe.log == ["connect:alice"]

    result = await run_promise_exit(rt.testing_connect(Lab, ROOM, lab_opts("alice", on_duplicate="reject")))
    assert isinstance(result, Failure)
    (err,) = result.cause.failures()
    assert isinstance(err, UpgradeError) and err.status == 409


async def test_an_upgrade_without_the_upgrade_header_is_426(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    _, rt = probe_rt
    stub = rt.namespace.get(rt.namespace.idFromName(NAME))
    response = await stub.fetch(op_url("lab", ROOM, "upgrade"), method="GET")
    assert response.status == 426
    assert rt.sockets("lab", ROOM) == []


async def test_replace_closes_the_old_socket_with_1012(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    probe, rt = probe_rt
    old = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice")))
    new = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice", on_duplicate="replace")))
    assert old.close_code == 1012 and not old.is_open()
    assert old.server.closes[0][0] == 1012 and old.server.readyState == CLOSED
    assert new.is_open()
    # The platform's webSocketClose for the replaced socket does not run on_close twice.
    assert probe.log == ["connect:alice", "close:alice:others=[]", "connect:alice"]


async def test_the_close_handshake_is_answered(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    probe, rt = probe_rt
    alice = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice")))
    bob = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("bob")))
    await run_promise(alice.close(4000, "bye"))
    assert alice.server.closes == [(4000, "bye")]  # the Durable Object answered with the same code
    assert alice.close_code == 4000 and alice.server.readyState == CLOSED
    assert probe.log[-1] == "close:alice:others=['bob']"

    # A lost connection arrives as 1006, which cannot be sent back: the answer is 1000.
    bob.socket.drop()
    assert bob.server.readyState == CLOSING
    await rt.world.settle()
    assert bob.server.closes == [(1000, "")] and bob.server.readyState == CLOSED
    assert probe.log[-1] == "close:bob:others=[]"


async def test_closing_sockets_from_get_web_sockets_are_not_open(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    probe, rt = probe_rt
    alice = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice")))
    bob = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("bob")))
    await run_promise(rt.hibernate(Lab, ROOM))
    alice.socket.drop()  # its webSocketClose is not delivered yet
    assert alice.server in rt.world.instance(rt.binding, NAME).ctx.getWebSockets()
    assert [i.id for i in await run_promise(rt.room(Lab).get_connections(ROOM))] == ["bob"]
    before = list(alice.socket.frames)
    await run_promise(rt.room(Lab).broadcast(ROOM, Said(text="hi", by="api")))
    assert alice.socket.frames == before and bob.received[-1] == Said(text="hi", by="api")
    await rt.world.settle()
    assert probe.log.count("close:alice:others=['bob']") == 1


async def test_the_namespace_client_brings_errors_back_typed(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    _, rt = probe_rt
    alice = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice")))
    lab = rt.room(Lab)

    def failure(result: object) -> object:
        assert isinstance(result, Failure)
        (err,) = result.cause.failures()
        return err

    refused = failure(await run_promise_exit(lab.send(ROOM, Do(action="refuse"))))
    assert isinstance(refused, RoomExecutionError) and refused.cause == Nope("refused")
    boom = failure(await run_promise_exit(lab.send(ROOM, Do(action="boom"))))
    assert isinstance(boom, RoomExecutionError) and isinstance(boom.cause, RuntimeError)

    # Invalid for the room's schema: refused by the Durable Object, with a 422.
    backend = NamespaceBackend(rt.config, rt.namespace)
    response = await backend.stub("lab", ROOM).fetch(
        op_url("lab", ROOM, "send"), method="POST", body=json.dumps({"value": {"_tag": "Inc", "by": "x"}})
    )
    assert response.status == 422
    with pytest.raises(RoomValidationError):
        await backend.call("lab", ROOM, "send", {"value": {"_tag": "Inc", "by": "x"}})
    with pytest.raises(RoomNotFoundError):
        await backend.call("nowhere", ROOM, "get_state")

    alice.fail_sends()
    err = failure(await run_promise_exit(lab.broadcast(ROOM, Said(text="x", by="api"))))
    assert isinstance(err, BroadcastError)
    assert [f.connection_id for f in err.failures] == ["alice"] and err.delivered == 0


async def test_the_namespace_client_round_trip(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    probe, rt = probe_rt
    alice = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice", tags=["red"], note="n")))
    lab = rt.room(Lab)
    await run_promise(lab.send(ROOM, Inc(by=5)))
    assert await run_promise(lab.get_state(ROOM)) == LabState(count=5)
    infos = await run_promise(lab.get_connections(ROOM, tag="red"))
    assert [(i.id, i.tags, i.state) for i in infos] == [("alice", ("red",), LabConn(name="alice", note="n"))]
    assert await run_promise(lab.get_connections(ROOM, tag="blue")) == []
    await run_promise(lab.broadcast(ROOM, Said(text="hello", by="api")))
    assert alice.received == [Said(text="hello", by="api")]
    await run_promise(lab.fire_alarm(ROOM))
    assert probe.alarm_runs == [None]
    assert await run_promise(lab.get_state(ROOM)) == LabState(count=105)
    # Each instance is its own Durable Object, named room:id.
    await run_promise(lab.send("other", Inc(by=1)))
    assert {name for _, name in rt.world.objects} == {NAME, "lab:other"}


async def test_an_unknown_route_is_404(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    _, rt = probe_rt
    stub = rt.namespace.get(rt.namespace.idFromName(NAME))
    response = await stub.fetch("https://rooms.internal/lab", method="GET")
    assert isinstance(response, FakeResponse) and response.status == 404


# -- CloudflareEnv ---------------------------------------------------------------------------------


class EnvState(BaseModel):
    greeting: str


class Hello(TaggedStruct, tag="Hello"):
    pass


class Nothing(TaggedStruct, tag="Nothing"):
    pass


class Conn(BaseModel):
    pass


EnvRoom = WebSocketRoom.make(
    "env", state=EnvState, connection=Conn, event=Schema.union(Hello), broadcast=Schema.union(Nothing)
)
env_registry = SocketRegistry.make(EnvRoom)


@gen
def save_greeting(ctx: RoomCtx[EnvState, Conn, Hello, Nothing], ev: Hello) -> EffectGen[None, object, CloudflareEnv]:
    cf = yield from CloudflareEnv
    greeting = yield from sync(lambda: str(getattr(cf.env, "GREETING", "?")))
    yield from ctx.save(EnvState(greeting=greeting))


async def test_handlers_get_the_objects_env_as_cloudflare_env() -> None:
    config = env_registry.build({"env": env_registry.handler(EnvRoom, on_event=save_greeting)})
    rt = CloudflareTestRuntime(config)
    try:
        rt.world.env.GREETING = "hello from env"
        await run_promise(rt.room(EnvRoom).send("x", Hello()))
        assert await run_promise(rt.room(EnvRoom).get_state("x")) == EnvState(greeting="hello from env")
        opts = UpgradeOpts(ConnectionInit(Conn(), id="c"))
        conn = await run_promise(rt.testing_connect(EnvRoom, "x", opts))
        assert conn.is_open() and conn.tags == ()
    finally:
        await rt.aclose()


class Greeting(Service):
    def __init__(self, text: str) -> None:
        self.text = text


@gen
def greeting_from_env() -> EffectGen[Greeting, object, CloudflareEnv]:
    cf = yield from CloudflareEnv
    return Greeting(str(getattr(cf.env, "GREETING", "?")))


@gen
def save_service_greeting(ctx: RoomCtx[EnvState, Conn, Hello, Nothing], ev: Hello) -> EffectGen[None, object, Greeting]:
    greeting = yield from Greeting
    yield from ctx.save(EnvState(greeting=greeting.text))


async def test_a_services_layer_can_be_built_from_cloudflare_env() -> None:
    config = env_registry.build({"env": env_registry.handler(EnvRoom, on_event=save_service_greeting)})
    rt = CloudflareTestRuntime(config, services=Layer.effect(Greeting, greeting_from_env()))
    try:
        rt.world.env.GREETING = "built lazily"
        await run_promise(rt.room(EnvRoom).send("x", Hello()))
        assert await run_promise(rt.room(EnvRoom).get_state("x")) == EnvState(greeting="built lazily")
    finally:
        await rt.aclose()


async def test_the_fixture_gives_fresh_runtimes_on_the_fake(cloudflare_runtime: CloudflareRuntimeFactory) -> None:  # noqa: F811
    first = cloudflare_runtime(lab_config(Probe()))
    second = cloudflare_runtime(lab_config(Probe()))
    assert first is not second and first.world is not second.world
    assert issubclass(first.group.DO, sys.modules["workers"].DurableObject)  # the fake is installed
    await run_promise(first.room(Lab).send(ROOM, Inc(by=4)))
    assert await run_promise(first.room(Lab).get_state(ROOM)) == LabState(count=4)
    assert await run_promise(second.room(Lab).get_state(ROOM)) is None


class _Unreachable:
    """A namespace whose stubs throw, as the platform does for an overloaded object."""

    def idFromName(self, name: str, /) -> object:
        return name

    def get(self, id: object, /) -> _Unreachable:
        return self

    async def fetch(self, resource: object, /, **init: str) -> FakeResponse:
        raise JsError("Error: Durable Object is overloaded")


async def test_a_platform_failure_is_a_room_error(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    _, rt = probe_rt
    client = rt.group.client(_Unreachable())

    def failure(result: object) -> object:
        assert isinstance(result, Failure)
        (err,) = result.cause.failures()
        return err

    err = failure(await run_promise_exit(client.room(Lab).send(ROOM, Inc(by=1))))
    assert isinstance(err, RoomError) and "overloaded" in err.message
    refused = failure(await run_promise_exit(client.room(Lab).upgrade(ROOM, None, lab_opts("alice"))))
    assert isinstance(refused, UpgradeError) and refused.status == 502


async def test_upgrade_options_that_are_not_json_are_refused(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    probe, rt = probe_rt
    result = await run_promise_exit(rt.testing_connect(Lab, ROOM, lab_opts("alice", meta={"when": object()})))
    assert isinstance(result, Failure)
    (err,) = result.cause.failures()
    assert isinstance(err, UpgradeError) and err.status == 400
    assert probe.log == [] and rt.sockets("lab", ROOM) == []


async def test_a_socket_error_closes_the_connection_once(probe_rt: tuple[Probe, CloudflareTestRuntime]) -> None:
    probe, rt = probe_rt
    alice = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice")))
    await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("bob")))

    async def error(do: Any) -> None:
        await do.webSocketError(alice.server, JsError("Error: network connection lost"))

    await rt.world.call(rt.binding, NAME, error)
    await rt.world.call(rt.binding, NAME, error)  # a second report changes nothing
    assert alice.server.readyState == CLOSED and alice.close_code == 1000
    assert probe.log.count("close:alice:others=['bob']") == 1
    assert [i.id for i in await run_promise(rt.room(Lab).get_connections(ROOM))] == ["bob"]


async def test_the_platform_limits_hold_at_their_edges() -> None:
    probe = Probe()
    rt = CloudflareTestRuntime(lab_config(probe), options=EngineOptions(attachment_cap=16_384))
    try:
        # Ten tags, the id among them, each up to 256 characters: accepted by the platform.
        tags = [f"{i}".ljust(256, "t") for i in range(9)]
        alice = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("a" * 256, tags=tags)))
        assert alice.server.tags == ["a" * 256, *tags]
        too_many = await run_promise_exit(rt.testing_connect(Lab, ROOM, lab_opts("bob", tags=[*tags, "x"])))
        assert isinstance(too_many, Failure)

        # An attachment near the platform's 16 KiB is written; one over the cap is refused.
        await run_promise(alice.receive(SetNote(note="n" * 12_000)))
        assert len(str(alice.server.deserializeAttachment())) > 12_000
        await run_promise(alice.receive(SetNote(note="n" * 17_000)))
        (err,) = probe.errors
        assert isinstance(err, AttachmentTooLargeError) and err.limit == 16_384
        infos = await run_promise(rt.room(Lab).get_connections(ROOM))
        assert [len(i.state.note) for i in infos] == [12_000]
    finally:
        await rt.aclose()


async def test_on_close_runs_once_when_the_object_hibernates_inside_a_close_handshake(
    probe_rt: tuple[Probe, CloudflareTestRuntime],
) -> None:
    probe, rt = probe_rt
    alice = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice")))
    await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("bob")))
    alice.socket.answer_closes = False  # alice's answer to the server's close comes late

    await run_promise(alice.receive(Do(action="close", code=4002)))
    assert alice.close_code == 4002 and alice.server.readyState == CLOSING
    assert probe.log.count("close:alice:others=['bob']") == 1
    await run_promise(rt.hibernate(Lab, ROOM))

    alice.socket.close(4002, "")  # the answer reaches a new instance of the Durable Object
    await rt.world.settle()
    assert alice.server.readyState == CLOSED
    assert probe.log.count("close:alice:others=['bob']") == 1
    assert [i.id for i in await run_promise(rt.room(Lab).get_connections(ROOM))] == ["bob"]


async def test_a_long_lived_object_forgets_the_sockets_that_closed(
    probe_rt: tuple[Probe, CloudflareTestRuntime],
) -> None:
    probe, rt = probe_rt
    for _ in range(5):
        alice = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("alice")))
        await run_promise(alice.close(1000, "bye"))
    bob = await run_promise(rt.testing_connect(Lab, ROOM, lab_opts("bob")))
    await run_promise(bob.receive(Do(action="close", code=4001)))
    assert live_core(rt).host._by_id == {}
    assert probe.log.count("close:alice:others=[]") == 5 and probe.log[-1] == "close:bob:others=[]"


async def test_a_socket_the_platform_refuses_to_accept_is_an_upgrade_error_503(
    probe_rt: tuple[Probe, CloudflareTestRuntime],
) -> None:
    probe, rt = probe_rt
    rt.world.object_data(rt.binding, NAME).max_sockets = 2  # the platform's per-object socket limit, lowered
    for name in ["alice", "bob"]:
        await run_promise(rt.testing_connect(Lab, ROOM, lab_opts(name)))
    probe.log.clear()

    refused = await run_promise_exit(rt.testing_connect(Lab, ROOM, lab_opts("carol")))
    assert isinstance(refused, Failure)
    (err,) = refused.cause.failures()
    assert isinstance(err, UpgradeError) and err.status == 503, err
    assert "WebSockets on one Durable Object" in err.message

    # Nothing half-registered: no connection, no on_connect, no wrapper, no socket.
    assert probe.log == []
    assert [i.id for i in await run_promise(rt.room(Lab).get_connections(ROOM))] == ["alice", "bob"]
    assert sorted(live_core(rt).host._by_id) == ["alice", "bob"]
    assert [s.tags[0] for s in rt.sockets("lab", ROOM)] == ["alice", "bob"]


async def test_upgrade_options_survive_a_runtime_that_splits_header_values_at_commas(
    probe_rt: tuple[Probe, CloudflareTestRuntime],
) -> None:
    probe, rt = probe_rt
    assert rt.world.split_header_values  # the fake hands each header's first comma-separated piece on
    opts = UpgradeOpts(
        ConnectionInit(LabConn(name="a, b", note="x,y,,z"), id="a,b", tags=["t,1", "t2"], meta={"k": "v,w"}),
        on_duplicate="reject",
    )
    alice = await run_promise(rt.testing_connect(Lab, ROOM, opts))
    assert (alice.id, alice.tags) == ("a,b", ("t,1", "t2"))
    (info,) = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert info.state == LabConn(name="a, b", note="x,y,,z")
    assert probe.log == ["connect:a,b"]
    again = await run_promise_exit(rt.testing_connect(Lab, ROOM, opts))
    assert isinstance(again, Failure)
    (err,) = again.cause.failures()
    assert isinstance(err, UpgradeError) and err.status == 409  # on_duplicate arrived too
