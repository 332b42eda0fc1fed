"""CORS for the direct API (`cors_origins=`), off by default, on each transport:
a browser page of an allowed origin may call `/api` (its preflight is answered,
and responses name the origin); other origins get no CORS headers."""

from __future__ import annotations

import urllib.error
import urllib.request
from email.message import Message

import anyio
import pytest

from durable_effect.sockets.server import make_socket_server

from .server_helpers import TIMEOUT, serve
from .server_rooms import config, upgrade_options

pytestmark = pytest.mark.anyio
APP = "https://app.example"


def _request(method: str, url: str, headers: dict[str, str]) -> tuple[int, Message]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()
            return int(response.status), response.headers
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code), exc.headers


async def request(method: str, url: str, **headers: str) -> tuple[int, Message]:
    return await anyio.to_thread.run_sync(_request, method, url, {k.replace("_", "-"): v for k, v in headers.items()})


async def test_a_preflight_from_an_allowed_origin_is_answered() -> None:
    server = make_socket_server(config, upgrade_options=upgrade_options, cors_origins=[APP], api_token="t")
    async with serve(server) as addr:
        status, headers = await request(
            "OPTIONS",
            f"http://{addr}/api/notes/n1/send",
            Origin=APP,
            Access_Control_Request_Method="POST",
            Access_Control_Request_Headers="authorization, content-type",
        )
        assert status == 204  # answered before the token is asked for: a browser sends none with a preflight
        assert headers["access-control-allow-origin"] == APP
        assert headers["access-control-allow-methods"] == "POST"
        assert {h.strip() for h in headers["access-control-allow-headers"].split(",")} >= {
            "authorization",
            "content-type",
        }
        assert "Origin" in headers["vary"]


async def test_responses_to_an_allowed_origin_carry_it() -> None:
    server = make_socket_server(config, upgrade_options=upgrade_options, cors_origins=[APP])
    async with serve(server) as addr:
        status, headers = await request("GET", f"http://{addr}/api/notes/n1/state", Origin=APP)
        assert status == 200
        assert headers["access-control-allow-origin"] == APP
        status, headers = await request("GET", f"http://{addr}/api/nosuchroom/n1/state", Origin=APP)
        assert status == 404  # errors too: the page can read why
        assert headers["access-control-allow-origin"] == APP


async def test_other_origins_and_the_default_get_no_cors_headers() -> None:
    allowing = make_socket_server(config, upgrade_options=upgrade_options, cors_origins=[APP])
    default = make_socket_server(config, upgrade_options=upgrade_options)
    for server, origin in ((allowing, "https://evil.example"), (default, APP)):
        async with serve(server) as addr:
            status, headers = await request("GET", f"http://{addr}/api/notes/n1/state", Origin=origin)
            assert status == 200
            assert "access-control-allow-origin" not in headers
            status, headers = await request(
                "OPTIONS", f"http://{addr}/api/notes/n1/send", Origin=origin, Access_Control_Request_Method="POST"
            )
            assert status == 405
            assert "access-control-allow-origin" not in headers


async def test_any_origin() -> None:
    server = make_socket_server(config, upgrade_options=upgrade_options, cors_origins=["*"])
    async with serve(server) as addr:
        _, headers = await request("GET", f"http://{addr}/api/notes/n1/state", Origin="https://elsewhere.example")
        assert headers["access-control-allow-origin"] == "https://elsewhere.example"
