"""Who may use the server, over real sockets on each transport: the direct API
is closed to non-loopback peers by default, opened by a bearer token or an
`authorize` hook; a cross-origin upgrade is refused unless its origin is allowed."""

from __future__ import annotations

import logging

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from durable_effect.sockets.server import (
    API_TOKEN_ENV,
    Allow,
    ApiRequest,
    MemoryStorage,
    Refuse,
    SocketServer,
    make_socket_server,
)
from examples.chat.identity import sign
from examples.chat.server import make_server
from tests.task.tasks import JOB, Probe, job_config

from .server_helpers import http, recv, serve
from .server_rooms import config, upgrade_options

ADD = {"_tag": "Add", "text": "hi"}


def remote_peers(seen: list[str | None]) -> SocketServer:
    """A server that treats every peer as remote, and records the peers the check saw."""

    def trusted(peer: str | None) -> bool:
        seen.append(peer)
        return False

    return make_socket_server(config, upgrade_options=upgrade_options, trusted_peer=trusted, tasks=job_config(Probe()))


@pytest.mark.anyio
async def test_the_direct_api_refuses_a_remote_peer_without_credentials() -> None:
    seen: list[str | None] = []
    async with serve(remote_peers(seen)) as addr:
        for method, url, body in [
            ("POST", f"http://{addr}/api/notes/n1/send", ADD),
            ("GET", f"http://{addr}/api/notes/n1/state", None),
            ("GET", f"http://{addr}/api/notes/n1/connections", None),
            ("POST", f"http://{addr}/api/notes/n1/broadcast", {"_tag": "Added", "text": "x", "by": "y", "count": 1}),
            ("POST", f"http://{addr}/api/notes/n1/alarm", None),
            ("GET", f"http://{addr}/task/job/{JOB}/state", None),
            ("POST", f"http://{addr}/task/job/{JOB}/alarm", None),
        ]:
            status, answer = await http(method, url, body)
            assert status == 403, (method, url)
            assert "loopback" in answer["error"]["message"]
    assert seen and set(seen) == {"127.0.0.1"}  # the transport gave the check the real peer address


@pytest.mark.anyio
async def test_loopback_peers_are_answered_by_default() -> None:
    async with serve(make_socket_server(config, upgrade_options=upgrade_options)) as addr:
        assert await http("POST", f"http://{addr}/api/notes/n1/send", ADD) == (200, {"status": "ok"})


@pytest.mark.anyio
async def test_a_bearer_token_opens_the_direct_api() -> None:
    server = make_socket_server(config, upgrade_options=upgrade_options, api_token="s3cret")
    async with serve(server) as addr:
        url = f"http://{addr}/api/notes/n1/send"
        # a configured token is required even from loopback
        assert (await http("POST", url, ADD))[0] == 401
        assert (await http("POST", url, ADD, headers={"authorization": "Bearer wrong"}))[0] == 401
        assert await http("POST", url, ADD, headers={"authorization": "Bearer s3cret"}) == (200, {"status": "ok"})
        bearer = {"authorization": "Bearer s3cret"}
        status, state = await http("GET", f"http://{addr}/api/notes/n1/state", headers=bearer)
        assert (status, state["count"], state["last"]) == (200, 1, "hi")


@pytest.mark.anyio
async def test_the_token_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_TOKEN_ENV, "from-env")
    seen: list[str | None] = []
    async with serve(remote_peers(seen)) as addr:
        url = f"http://{addr}/api/notes/n1/send"
        assert (await http("POST", url, ADD))[0] == 401
        assert await http("POST", url, ADD, headers={"authorization": "Bearer from-env"}) == (200, {"status": "ok"})


@pytest.mark.anyio
async def test_the_authorize_hook_decides_the_direct_api() -> None:
    asked: list[ApiRequest] = []

    async def authorize(request: ApiRequest) -> Allow | Refuse:
        asked.append(request)
        if request.headers.get("x-role") == "admin" or (request.method, request.action) == ("GET", "state"):
            return Allow()
        return Refuse(403, "admins only")

    server = make_socket_server(
        config, upgrade_options=upgrade_options, authorize=authorize, tasks=job_config(Probe()), trusted_peer=bool
    )
    async with serve(server) as addr:
        url = f"http://{addr}/api/notes/n1/send"
        assert await http("POST", url, ADD) == (403, {"error": {"_tag": "Unauthorized", "message": "admins only"}})
        assert await http("POST", url, ADD, headers={"x-role": "admin"}) == (200, {"status": "ok"})
        assert (await http("GET", f"http://{addr}/api/notes/n1/state"))[0] == 200
        assert (await http("POST", f"http://{addr}/task/job/{JOB}/alarm"))[0] == 403
    first = asked[0]
    assert (first.route, first.method, first.room, first.id, first.action) == ("api", "POST", "notes", "n1", "send")
    assert first.peer == "127.0.0.1"
    assert asked[-1].route == "task" and asked[-1].room == "job"


@pytest.mark.anyio
async def test_a_failing_authorize_hook_refuses() -> None:
    def authorize(request: ApiRequest) -> Allow | Refuse:
        raise RuntimeError("bug")

    async with serve(make_socket_server(config, upgrade_options=upgrade_options, authorize=authorize)) as addr:
        status, _ = await http("POST", f"http://{addr}/api/notes/n1/send", ADD)
        assert status == 500


@pytest.mark.anyio
async def test_the_start_up_log_says_who_the_direct_api_answers(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "durable_effect.server"):
        async with serve(make_socket_server(config, storage=MemoryStorage())):
            pass
    assert any("answers only loopback peers" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_a_cross_origin_upgrade_is_refused() -> None:
    async with serve(make_socket_server(config, upgrade_options=upgrade_options)) as addr:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://{addr}/ws/notes/n1?name=ann", origin="https://evil.example"):  # type: ignore[arg-type]  # Origin is a NewType of str
                pass
        assert refused.value.response.status_code == 403
        assert b"evil.example" in refused.value.response.body
        # the page's own origin, and a client that sends no Origin, are let in
        async with connect(f"ws://{addr}/ws/notes/n1?name=ann", origin=f"http://{addr}") as ws:  # type: ignore[arg-type]  # as above
            await ws.send('{"_tag":"Add","text":"same-origin"}')
            assert (await recv(ws))["text"] == "same-origin"
        async with connect(f"ws://{addr}/ws/notes/n1?name=bob"):
            pass


@pytest.mark.anyio
async def test_allowed_origins_let_another_site_upgrade() -> None:
    server = make_socket_server(config, upgrade_options=upgrade_options, allowed_origins=["https://app.example"])
    async with serve(server) as addr:
        async with connect(f"ws://{addr}/ws/notes/n1?name=ann", origin="https://app.example"):  # type: ignore[arg-type]  # Origin is a NewType of str
            pass
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://{addr}/ws/notes/n1?name=ann", origin="https://evil.example"):  # type: ignore[arg-type]  # as above
                pass
        assert refused.value.response.status_code == 403


@pytest.mark.anyio
async def test_the_chat_demo_lets_only_its_own_page_upgrade() -> None:
    async with serve(make_server(MemoryStorage())) as addr:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://{addr}/ws/chat/general?token={sign('eve')}", origin="https://evil.example"):  # type: ignore[arg-type]  # Origin is a NewType of str
                pass
        assert refused.value.response.status_code == 403
        async with connect(f"ws://{addr}/ws/chat/general?token={sign('ann')}", origin=f"http://{addr}"):  # type: ignore[arg-type]  # as above
            pass
