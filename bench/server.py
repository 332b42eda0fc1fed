"""Self-hosted server benchmark: `python -m bench.server` (or `make bench`).

Our server (uvicorn, `ws="websockets-sansio"`, serving `examples.chat.server.make_server(MemoryStorage())`)
against a baseline written with the `websockets` library (`websockets.asyncio.server.serve`; each received
`Say` frame is decoded, re-encoded once as a Message-shaped JSON and sent to every connection of the room
with `websockets.broadcast`). Both servers run in their own subprocess, on 127.0.0.1, and are driven by the
same asyncio load generator (websockets client, no compression) in this process:

- chat: C clients in one room (C = 50 and 500), 10 of them senders. Each sender sends its next `Say` once its
  previous one came back to it (closed loop: at most 10 messages in flight), so the server never queues
  without bound. Every client counts the Messages it receives; latency = receive time - send time carried in
  the text. Server CPU (utime + stime from /proc/PID/stat) is read around the measured phase only, and
  divided by the number of delivered messages.
- memory: 10 warm-up clients, then 1,000 idle clients (each reading and discarding what it receives); server
  RSS (VmRSS from /proc/PID/status) after, minus before, divided by 1,000.

Each measurement starts a fresh server. `BENCH_PROFILE=FILE` in the environment of `serve-ours` runs our server
under cProfile and writes the stats to FILE when it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.report import machine as _machine
from bench.report import table as _table

HOST = "127.0.0.1"
SENDERS = 10
CHAT_CASES = ((50, 2_000), (500, 400))  # (clients, total messages)
IDLE_WARMUP = 10
IDLE_CLIENTS = 1_000
CPU_GOAL = 1.5
RSS_GOAL_KB = 24.0
START_TIMEOUT = 20.0
PHASE_TIMEOUT = 60.0
QUIET = 0.3  # seconds without a frame = drained
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65_536
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# -- the two servers (subprocess entry points) -----------------------------------------------


def _serve_ours(port: int) -> None:
    import uvicorn

    from durable_effect.sockets.server import MemoryStorage
    from examples.chat.server import make_server

    app = make_server(MemoryStorage())
    profile_to = os.environ.get("BENCH_PROFILE")
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning", ws="websockets-sansio"))
    if not profile_to:
        server.run()
        return
    import cProfile
    import signal

    # uvicorn re-raises the SIGTERM it caught once it has shut down: exit through `finally` instead of dying.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        server.run()
    finally:
        profiler.disable()
        profiler.dump_stats(profile_to)


async def _baseline_main(port: int) -> None:
    rooms: dict[str, set[ServerConnection]] = {}

    async def handler(ws: ServerConnection) -> None:
        request = ws.request
        path = request.path if request is not None else "/"
        room_path, _, query = path.partition("?")
        user_id = parse_qs(query).get("userId", ["anon"])[0]
        clients = rooms.setdefault(room_path, set())
        clients.add(ws)
        try:
            async for raw in ws:
                data = json.loads(raw)
                if data.get("_tag") == "Say":
                    out = {"_tag": "Message", "text": data["text"], "user_id": user_id, "ts": time.time() * 1000}
                    broadcast(clients, json.dumps(out, separators=(",", ":")))
        finally:
            clients.discard(ws)

    async with serve(handler, HOST, port, compression=None) as server:
        await server.serve_forever()


def _serve_baseline(port: int) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_baseline_main(port))


# -- process probes ---------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields from 3 (state) on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime (14), stime (15)


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(kind: str) -> Iterator[tuple[int, int]]:
    """Start `python -m bench.server serve-KIND PORT`; (pid, port) once it accepts; always stopped."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.server", f"serve-{kind}", str(port)])
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} server exited with {proc.returncode}")
            try:
                with socket.create_connection((HOST, port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} server did not start in {START_TIMEOUT} s") from None
                time.sleep(0.1)
        yield proc.pid, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# -- load generator ---------------------------------------------------------------------------


@dataclass
class _Client:
    name: str
    ws: ClientConnection
    received: int = 0
    last_frame: float = 0.0
    latencies: list[float] = field(default_factory=list)
    echo: asyncio.Event = field(default_factory=asyncio.Event)
    record: bool = False


async def _read(client: _Client) -> None:
    with contextlib.suppress(Exception):
        async for raw in client.ws:
            now = time.perf_counter()
            client.last_frame = now
            if '"Message"' not in raw:  # UserJoined / UserLeft from our server
                continue
            text: str = json.loads(raw)["text"]
            sender, _, sent = text.partition("|")
            if not client.record:
                continue
            client.received += 1
            client.latencies.append(now - float(sent))
            if sender == client.name:
                client.echo.set()


async def _open(port: int, names: list[str], tasks: list[asyncio.Task[None]]) -> list[_Client]:
    clients: list[_Client] = []
    for name in names:  # one at a time: the servers see the same, gentle, connection rate
        ws = await connect(f"ws://{HOST}:{port}/ws/chat/bench?userId={name}", compression=None, max_size=None)
        client = _Client(name, ws)
        clients.append(client)
        tasks.append(asyncio.create_task(_read(client)))
    return clients


async def _drain(clients: list[_Client]) -> None:
    """Wait until no client got a frame for QUIET seconds (bounded by PHASE_TIMEOUT)."""
    deadline = time.monotonic() + PHASE_TIMEOUT
    while time.monotonic() < deadline:
        await asyncio.sleep(QUIET)
        if all(time.perf_counter() - c.last_frame >= QUIET for c in clients):
            return
    raise RuntimeError("clients still receiving after the phase timeout")


async def _close(clients: list[_Client], tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        client.ws.transport.abort()


@dataclass(frozen=True)
class ChatResult:
    cpu_per_delivery: float  # seconds
    p50: float
    p99: float
    deliveries: int
    expected: int
    wall: float


async def _send_loop(client: _Client, count: int) -> None:
    for _ in range(count):
        client.echo.clear()
        await client.ws.send(json.dumps({"_tag": "Say", "text": f"{client.name}|{time.perf_counter()!r}"}))
        await asyncio.wait_for(client.echo.wait(), timeout=PHASE_TIMEOUT)


async def _chat(pid: int, port: int, n_clients: int, n_messages: int) -> ChatResult:
    tasks: list[asyncio.Task[None]] = []
    clients: list[_Client] = []
    try:
        clients = await asyncio.wait_for(
            _open(port, [f"u{i}" for i in range(n_clients)], tasks), timeout=PHASE_TIMEOUT
        )
        await _drain(clients)
        for client in clients:
            client.record = True
        per_sender = n_messages // SENDERS
        cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(_send_loop(c, per_sender) for c in clients[:SENDERS])), timeout=PHASE_TIMEOUT
        )
        await _drain(clients)
        cpu1, wall = _cpu_seconds(pid), time.perf_counter() - t0 - QUIET
        latencies = sorted(x for c in clients for x in c.latencies)
        deliveries = len(latencies)
        return ChatResult(
            cpu_per_delivery=(cpu1 - cpu0) / deliveries,
            p50=latencies[deliveries // 2],
            p99=latencies[min(deliveries - 1, int(deliveries * 0.99))],
            deliveries=deliveries,
            expected=per_sender * SENDERS * n_clients,
            wall=wall,
        )
    finally:
        await _close(clients, tasks)


async def _idle_rss(pid: int, port: int) -> float:
    """Server RSS bytes per idle connection."""
    tasks: list[asyncio.Task[None]] = []
    clients: list[_Client] = []
    try:
        clients = await asyncio.wait_for(_open(port, [f"w{i}" for i in range(IDLE_WARMUP)], tasks), PHASE_TIMEOUT)
        await _drain(clients)
        before = _rss_bytes(pid)
        more = await asyncio.wait_for(_open(port, [f"i{i}" for i in range(IDLE_CLIENTS)], tasks), PHASE_TIMEOUT)
        clients += more
        await _drain(clients)
        await asyncio.sleep(0.5)
        return (_rss_bytes(pid) - before) / IDLE_CLIENTS
    finally:
        await _close(clients, tasks)


# -- report -----------------------------------------------------------------------------------


def _goal(ratio: float, goal: float) -> str:
    if ratio <= goal:
        return f"≤ {goal}x (met)"
    return f"≤ {goal}x (missed by {(ratio / goal - 1) * 100:.1f}%)"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


async def _run_chat(kind: str, n_clients: int, n_messages: int) -> ChatResult:
    with _server(kind) as (pid, port):
        return await _chat(pid, port, n_clients, n_messages)


async def _run_rss(kind: str) -> float:
    with _server(kind) as (pid, port):
        return await _idle_rss(pid, port)


async def _measure() -> list[str]:
    rows: list[tuple[str, ...]] = []
    for n_clients, n_messages in CHAT_CASES:
        ours = await _run_chat("ours", n_clients, n_messages)
        base = await _run_chat("baseline", n_clients, n_messages)
        for r in (ours, base):
            if r.deliveries != r.expected:
                raise AssertionError(f"{r.deliveries} deliveries, expected {r.expected}")
        ratio = ours.cpu_per_delivery / base.cpu_per_delivery
        rows.append(
            (
                f"chat, C = {n_clients}, {n_messages:,} msgs ({ours.deliveries:,} deliveries)",
                f"{ours.cpu_per_delivery * 1e6:.1f} µs",
                f"{base.cpu_per_delivery * 1e6:.1f} µs",
                f"{ratio:.2f}x",
                _goal(ratio, CPU_GOAL),
                f"{_ms(ours.p50)} / {_ms(ours.p99)}",
                f"{_ms(base.p50)} / {_ms(base.p99)}",
            )
        )
    rss_ours = await _run_rss("ours")
    rss_base = await _run_rss("baseline")
    kb = rss_ours / 1024
    goal = "met" if kb <= RSS_GOAL_KB else f"missed by {(kb / RSS_GOAL_KB - 1) * 100:.1f}%"
    rows.append(
        (
            f"RSS per idle connection, {IDLE_CLIENTS:,} clients",
            f"{kb:.1f} KB",
            f"{rss_base / 1024:.1f} KB",
            f"{rss_ours / rss_base:.2f}x",
            f"ours ≤ {RSS_GOAL_KB:.0f} KB ({goal})",
            "—",
            "—",
        )
    )
    header = (
        "case",
        "ours (CPU/delivery)",
        "baseline",
        "ratio",
        "goal",
        "ours p50 / p99",
        "baseline p50 / p99",
    )
    return _table(header, rows)


def main() -> None:
    _raise_nofile()
    print("# self-hosted server vs websockets baseline (python -m bench.server)")
    for line in _machine():
        print(line)
    for line in asyncio.run(_measure()):
        print(line)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("serve-ours", "serve-baseline"):
        _raise_nofile()
        (_serve_ours if sys.argv[1] == "serve-ours" else _serve_baseline)(int(sys.argv[2]))
    else:
        main()
