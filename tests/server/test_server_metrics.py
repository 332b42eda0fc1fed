"""`GET /metrics` in the Prometheus text format, over real sockets on each
transport: live connections and instances by room, requests, upgrades and
closes by status; behind the same access check as the direct API."""

from __future__ import annotations

import urllib.request
from collections.abc import Collection, Mapping

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from durable_effect.sockets.host import AlarmChange
from durable_effect.sockets.server import MemoryStorage, make_socket_server

from .server_helpers import TIMEOUT, http, recv, serve
from .server_rooms import config, upgrade_options


def scrape(url: str, token: str | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT) as answer:
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.anyio
async def test_metrics_count_connections_requests_and_upgrades() -> None:
    server = make_socket_server(config, upgrade_options=upgrade_options, metrics=True)
    async with serve(server) as addr:
        url = f"http://{addr}/metrics"
        assert (await http("GET", f"http://{addr}/api/notes/n1/state"))[0] == 200
        async with connect(f"ws://{addr}/ws/notes/n1?name=ann") as ws:
            await ws.send('{"_tag":"Add","text":"hi"}')
            await recv(ws)
            seen = await anyio.to_thread.run_sync(scrape, url)
            assert seen[("durable_effect_connections", (("room", "notes"),))] == 1
            assert seen[("durable_effect_instances", (("room", "notes"),))] == 1
            assert seen[("durable_effect_upgrades_total", (("status", "101"),))] == 1
            assert seen[("durable_effect_http_requests_total", (("status", "200"),))] >= 1
        with anyio.fail_after(TIMEOUT):
            while True:
                seen = await anyio.to_thread.run_sync(scrape, url)
                if seen.get(("durable_effect_socket_closes_total", (("code", "1000"),))) == 1:
                    break
                await anyio.sleep(0.02)
        assert seen[("durable_effect_connections", (("room", "notes"),))] == 0


@pytest.mark.anyio
async def test_metrics_are_behind_the_access_check() -> None:
    server = make_socket_server(config, upgrade_options=upgrade_options, metrics=True, api_token="t")
    async with serve(server) as addr:
        assert (await http("GET", f"http://{addr}/metrics"))[0] == 401
        seen = await anyio.to_thread.run_sync(scrape, f"http://{addr}/metrics", "t")
        assert seen[("durable_effect_connections", (("room", "notes"),))] == 0


@pytest.mark.anyio
async def test_no_metrics_route_unless_asked() -> None:
    async with serve(make_socket_server(config, upgrade_options=upgrade_options)) as addr:
        assert (await http("GET", f"http://{addr}/metrics"))[0] == 404


class _RefusingStorage(MemoryStorage):
    """Refuses to commit a state whose last text is "fail"."""

    def commit(
        self, room: str, id: str, puts: Mapping[str, str], deletes: Collection[str], alarm: AlarmChange | None = None
    ) -> None:
        if '"last":"fail"' in puts.get("state", ""):
            raise OSError("disk is full")
        super().commit(room, id, puts, deletes, alarm)


@pytest.mark.anyio
async def test_metrics_count_frames_failed_runs_and_commits() -> None:
    server = make_socket_server(config, storage=_RefusingStorage(), upgrade_options=upgrade_options, metrics=True)
    async with serve(server) as addr:
        url, room_url = f"http://{addr}/metrics", f"ws://{addr}/ws/notes/n1"
        async with connect(f"{room_url}?name=ann") as ann, connect(f"{room_url}?name=bo") as bo:
            await ann.send('{"_tag":"Add","text":"hi"}')
            await recv(ann)
            await recv(bo)
            await ann.send('{"_tag":"Add","text":"fail"}')  # its commit fails: nothing is sent
            await ann.send('{"_tag":"Add","text":"again"}')
            assert (await recv(ann))["text"] == "again"
            seen = await anyio.to_thread.run_sync(scrape, url)
    room = (("room", "notes"),)
    assert seen[("durable_effect_frames_received_total", room)] == 3
    assert seen[("durable_effect_frames_sent_total", room)] == 4  # two runs, two recipients each
    assert seen[("durable_effect_handler_failures_total", (("channel", "on_event"), ("room", "notes")))] == 1
    assert seen[("durable_effect_commit_seconds_count", room)] == 2
    assert seen[("durable_effect_commit_seconds_sum", room)] > 0
