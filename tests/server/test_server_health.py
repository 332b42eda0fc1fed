"""Operator routes over real sockets on each transport: liveness, readiness
(which reads the storage), and 405 for a known route asked with the wrong method."""

from __future__ import annotations

import urllib.error
import urllib.request

import anyio
import pytest

from durable_effect.sockets.server import MemoryStorage, SocketServer, StorageError, make_socket_server
from tests.task.tasks import JOB, Probe, job_config

from .server_helpers import TIMEOUT, http, serve
from .server_rooms import config, upgrade_options


class BrokenStorage(MemoryStorage):
    def next_alarm(self) -> None:
        raise StorageError("the database rooms.db is not readable: disk gone")


def server(storage: MemoryStorage | None = None) -> SocketServer:
    return make_socket_server(
        config, storage=storage or MemoryStorage(), upgrade_options=upgrade_options, tasks=job_config(Probe())
    )


@pytest.mark.anyio
async def test_healthz_and_readyz_answer() -> None:
    async with serve(server()) as addr:
        assert await http("GET", f"http://{addr}/healthz") == (200, {"status": "ok"})
        assert await http("GET", f"http://{addr}/readyz") == (200, {"status": "ok"})


@pytest.mark.anyio
async def test_readyz_fails_when_the_storage_cannot_be_read() -> None:
    async with serve(server(BrokenStorage())) as addr:
        status, body = await http("GET", f"http://{addr}/readyz")
        assert (status, body["status"]) == (503, "storage unavailable")
        assert await http("GET", f"http://{addr}/healthz") == (200, {"status": "ok"})


@pytest.mark.anyio
async def test_a_wrong_method_on_a_known_route_is_405() -> None:
    async with serve(server()) as addr:
        for method, url, allowed in [
            ("GET", f"http://{addr}/api/notes/n1/send", "POST"),
            ("POST", f"http://{addr}/api/notes/n1/state", "GET"),
            ("DELETE", f"http://{addr}/api/notes/n1/connections", "GET"),
            ("GET", f"http://{addr}/task/job/{JOB}/alarm", "POST"),
            ("POST", f"http://{addr}/healthz", "GET"),
        ]:
            req = urllib.request.Request(url, data=b"{}" if method != "GET" else None, method=method)
            with pytest.raises(urllib.error.HTTPError) as answer:
                await anyio_to_thread(req)
            assert answer.value.code == 405, (method, url)
            assert answer.value.headers["allow"] == allowed
        # an unknown action is still a 404
        assert (await http("GET", f"http://{addr}/api/notes/n1/nosuchaction"))[0] == 404


async def anyio_to_thread(req: urllib.request.Request) -> None:
    def call() -> None:
        with urllib.request.urlopen(req, timeout=TIMEOUT):
            pass

    await anyio.to_thread.run_sync(call)
