"""Sibling dispatch from handlers, user services, and the client as a service."""

from __future__ import annotations

import pytest

from durable_effect.effect import EffectGen, Failure, MissingServiceError, gen, provide, run_promise, run_promise_exit
from durable_effect.sockets import ConnectionInit, RoomError, RoomExecutionError, SocketClientService, UpgradeOpts

from .conftest import RuntimeFactory
from .rooms import (
    ROOM,
    Ask,
    Credit,
    Do,
    Greet,
    Inc,
    Lab,
    LabState,
    Ledger,
    LedgerConn,
    LedgerSaid,
    LedgerState,
    Probe,
    Said,
    greeter_layer,
    join,
    lab_config,
)

pytestmark = pytest.mark.anyio


async def test_handler_dispatches_to_a_sibling_room(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    teller = await run_promise(
        rt.testing_connect(Ledger, "acct-1", UpgradeOpts(ConnectionInit(LedgerConn(name="teller"), id="teller")))
    )
    alice = await join(rt, "alice")

    await run_promise(alice.receive(Ask(ledger_id="acct-1", amount=30)))
    await run_promise(alice.receive(Ask(ledger_id="acct-1", amount=12)))

    # send ran Ledger's on_event; get_state read it back; broadcast reached Ledger's sockets.
    assert probe.ledger_states == [LedgerState(balance=30), LedgerState(balance=42)]
    assert await run_promise(rt.room(Ledger).get_state("acct-1")) == LedgerState(balance=42)
    assert teller.received == [LedgerSaid(line="alice credited 30"), LedgerSaid(line="alice credited 12")]
    # The Lab instance itself is untouched.
    assert await run_promise(rt.room(Lab).get_state(ROOM)) is None
    assert not any(isinstance(m, LedgerSaid) for m in alice.received)


async def test_a_handler_calling_its_own_instance_gets_a_room_error(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    alice = await join(rt, "alice")
    await run_promise(alice.receive(Do(action="self_call")))
    (err,) = probe.self_calls
    assert isinstance(err, RoomError)
    assert "called itself" in err.message
    # The instance is not stuck: its handlers and direct calls still run.
    await run_promise(alice.receive(Inc(by=2)))
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=2)


async def test_with_services_provides_a_user_service(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe, services=greeter_layer()))
    alice = await join(rt, "alice")
    await run_promise(alice.receive(Greet(name="alice")))
    assert alice.received[-1] == Said(text="hello, alice", by="greeter")


async def test_runtime_services_layer(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe), services=greeter_layer())
    alice = await join(rt, "alice")
    await run_promise(alice.receive(Greet(name="bob")))
    assert alice.received[-1] == Said(text="hello, bob", by="greeter")
    await run_promise(rt.room(Lab).send(ROOM, Greet(name="api")))
    assert alice.received[-1] == Said(text="hello, api", by="greeter")


async def test_missing_service_is_a_handler_failure(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))
    alice = await join(rt, "alice")
    await run_promise(alice.receive(Greet(name="alice")))
    assert alice.is_open() and alice.received == []
    result = await run_promise_exit(rt.room(Lab).send(ROOM, Greet(name="api")))
    assert isinstance(result, Failure)
    (err,) = result.cause.failures()
    assert isinstance(err, RoomExecutionError)
    assert isinstance(err.cause, MissingServiceError)


async def test_rt_layer_provides_the_client_service(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe))

    @gen
    def credit_twice() -> EffectGen[LedgerState | None, object, SocketClientService]:
        rooms = yield from SocketClientService
        yield from rooms.room(Ledger).send("acct-9", Credit(amount=5))
        yield from rooms.room(Ledger).send("acct-9", Credit(amount=6))
        yield from rooms.room(Lab).send(ROOM, Inc(by=1))
        return (yield from rooms.room(Ledger).get_state("acct-9"))

    assert await run_promise(credit_twice().pipe(provide(rt.layer()))) == LedgerState(balance=11)
    assert await run_promise(rt.room(Lab).get_state(ROOM)) == LabState(count=1)
