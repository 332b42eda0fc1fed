"""A runtime-wide services layer may hold resources (`Layer.scoped`): built
once, on first use; released when the host stops. Its `Random` mints connection ids."""

from __future__ import annotations

import uuid

import pytest

from durable_effect.effect import Effect, Exit, Layer, Random, Success, acquire_release, run_promise, sync
from durable_effect.sockets import ConnectionInit, UpgradeOpts, make_in_memory_socket_runtime
from durable_effect.sockets.server.app import SocketServer

from .rooms import ROOM, Greet, Greeter, Lab, LabConn, Polite, Probe, Said, join, lab_config

pytestmark = pytest.mark.anyio


def pooled_greeter(log: list[str]) -> Layer[Greeter]:
    def open_greeter() -> Greeter:
        log.append("open")
        return Polite()

    def close(greeter: Greeter, exit: Exit[object, object]) -> Effect[None]:
        return sync(lambda: log.append("close"))

    return Layer.scoped(Greeter, acquire_release(sync(open_greeter), close))


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_the_in_memory_runtime_releases_scoped_services_when_closed() -> None:
    log: list[str] = []
    rt = make_in_memory_socket_runtime(lab_config(Probe()), services=pooled_greeter(log))
    alice = await join(rt, "alice")
    await run_promise(alice.receive(Greet(name="alice")))
    await run_promise(alice.receive(Greet(name="bob")))

    assert alice.received[-2:] == [Said(text="hello, alice", by="greeter"), Said(text="hello, bob", by="greeter")]
    assert log == ["open"]  # built once, for every handler run
    await run_promise(rt.close())
    await run_promise(rt.close())
    assert log == ["open", "close"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_server_releases_scoped_services_when_it_stops() -> None:
    log: list[str] = []
    server = SocketServer(lab_config(Probe()), services=pooled_greeter(log))
    async with server.running():
        built = await server.engine.handler_services()
        assert isinstance(built, Success) and isinstance(built.value[Greeter], Polite)
        assert log == ["open"]
    assert log == ["open", "close"]


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_connection_ids_come_from_the_random_service() -> None:
    async def ids(seed: int) -> list[str]:
        rt = make_in_memory_socket_runtime(lab_config(Probe()), services=Layer.succeed(Random, Random(seed=seed)))
        out = []
        for _ in range(2):
            conn = await run_promise(rt.testing_connect(Lab, ROOM, UpgradeOpts(ConnectionInit(LabConn(name="x")))))
            out.append(conn.id)
        return out

    first, again, other = await ids(1), await ids(1), await ids(2)
    assert first == again and first != other
    assert len(set(first)) == 2
    assert all(uuid.UUID(i).version == 4 for i in first)
