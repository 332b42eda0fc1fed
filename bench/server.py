"""Self-hosted server benchmark: `python -m bench.server` (or `make bench`).

Our server (`examples.chat.server.make_server(MemoryStorage())` on each transport: the native one, and
uvicorn with `ws="websockets-sansio"` for the ASGI app) against a baseline written with the `websockets`
library (`websockets.asyncio.server.serve`; each received `Say` frame is decoded, re-encoded once as a
Message-shaped JSON and sent to every connection of the room with `websockets.broadcast`). Each server runs
in its own subprocess on 127.0.0.1, driven by the same asyncio load generator in this process (bare asyncio
protocols over the `websockets` sans-I/O client, no compression):

- chat: C clients in one room (C = 50 and 500), 10 of them senders. Each sender sends its next `Say` once its
  previous one came back to it (closed loop: at most 10 messages in flight). Every client counts the
  Messages it receives; latency = receive time - send time carried in the text. Server CPU (utime + stime
  from /proc/PID/stat) is read around the measured phase only, and divided by the number of delivered
  messages.
- burst: the same room, but each sender sends all its messages at once (open loop: the server has work
  queued, as under a busy room), then waits for its last one to come back.
- many rooms: 50 clients spread over 10 rooms, one sender in each, closed loop as in chat (ROOMS_CASE):
  each Say reaches 5 clients, so the per-event work (and, with SQLite, the commit) weighs most.
- memory: 10 warm-up clients, then 1,000 idle clients (each reading and discarding what it receives); server
  RSS (VmRSS from /proc/PID/status) after, minus before, divided by 1,000.

- big room: 10,000 clients connected one after another into one room, then one sender at 10 Says/s for
  10 s. Ours serves it without join and leave broadcasts (bench/quiet_chat.py), as the peers' servers do.
  Every 10th client reads while the sender sends (latency over their deliveries); the others read what
  waited in their kernel buffers afterwards, and every delivery is counted.

`--phases chat,rss,bigroom` and `--servers baseline,aiohttp,socketio,native,asgi` select what runs (the
baseline always does). Each measurement starts a fresh server. `BENCH_PROFILE=FILE` in the environment of
`serve-native`, `serve-native-quiet` or `serve-asgi` runs our server under cProfile and writes the stats to
FILE when it exits (timed by the wall clock; with `BENCH_PROFILE_CPU=1` too, by the process's CPU time).

`python -m bench.server --only baseline,asgi --cases chat50,rss --rounds 3` measures only those servers and
cases, each round every server in turn (cases: chat50, chat500, burst500, rooms10, rss).
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
from dataclasses import dataclass
from urllib.parse import parse_qs

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from bench.report import machine as _machine
from bench.report import table as _table
from durable_effect.sockets.server.app import Transport
from examples.chat.identity import SECRET_ENV, sign

HOST = "127.0.0.1"
BENCH_SECRET = "bench-secret"
SENDERS = 10
CHAT_CASES = ((False, 50, 2_000), (False, 500, 400), (True, 500, 400))  # (burst, clients, total messages)
ROOMS_CASE = (10, 50, 4_000)
"""Many rooms: (rooms, clients, total messages): the clients spread over the rooms, one sender in each."""
BIG_ROOM = 10_000  # clients in one room
BIG_ROOM_RATE = 10.0  # Says per second, from one sender
BIG_ROOM_SECONDS = 10.0
BIG_ROOM_CONNECT_TIMEOUT = 180.0
BIG_ROOM_QUIET = 2.0  # seconds without a frame = drained (a server that falls behind pauses for long)
BIG_ROOM_SAMPLE = 10  # every 10th client reads while the sender sends; latency is measured on those
IDLE_WARMUP = 10
IDLE_CLIENTS = 1_000
TRANSPORTS: tuple[Transport, ...] = ("native", "asgi")
OURS = ("native", "native-db", "asgi")
"""Our servers: `native-db` is the native transport with SQLite storage (a commit per Say) instead of memory."""
PEERS = ("aiohttp", "socketio")
SERVERS = (
    ("baseline", "websockets (broadcast)"),
    ("aiohttp", "aiohttp"),
    ("socketio", "python-socketio (ASGI, uvicorn)"),
    ("native", "durable-effect, native"),
    ("native-db", "durable-effect, native + SQLite"),
    ("asgi", "durable-effect, ASGI (uvicorn)"),
)
CPU_GOALS: dict[str, float] = {"native": 0.5, "native-db": 0.35, "asgi": 1.5}
CPU_GOALS_AT_500: dict[str, float] = {"native-db": 0.2}
"""With SQLite, C = 500 and the burst have a goal of their own."""
RSS_GOALS_KB: dict[str, float] = {"native": 8.0, "asgi": 24.0}
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


def _serve_ours(port: int, transport: Transport, quiet: bool = False, db: bool = False) -> None:
    import tempfile

    from durable_effect.sockets.server import MemoryStorage, ServerStorage, SQLiteStorage

    if quiet:  # the big room: the chat without join and leave broadcasts
        from bench.quiet_chat import make_server
    else:
        from examples.chat.server import make_server

    storage: ServerStorage = MemoryStorage()
    if db:  # a fresh database file, as `durable-effect serve --db FILE` would open
        storage = SQLiteStorage(os.path.join(tempfile.mkdtemp(prefix="bench-"), "rooms.db"))
    app = make_server(storage)
    profile_to = os.environ.get("BENCH_PROFILE")
    if not profile_to:
        app.run(HOST, port, transport=transport, log_level="warning")
        return
    import cProfile
    import signal

    # uvicorn re-raises the SIGTERM it caught once it has shut down: exit through `finally` instead of dying.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))
    profiler = cProfile.Profile(time.process_time) if os.environ.get("BENCH_PROFILE_CPU") else cProfile.Profile()
    profiler.enable()
    try:
        app.run(HOST, port, transport=transport, log_level="warning")
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
                    out = {"_tag": "Message", "text": data["text"], "userId": user_id, "ts": time.time() * 1000}
                    broadcast(clients, json.dumps(out, separators=(",", ":")))
        finally:
            clients.discard(ws)

    async with serve(handler, HOST, port, compression=None) as server:
        await server.serve_forever()


def _serve_baseline(port: int) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_baseline_main(port))


def _serve_aiohttp(port: int) -> None:
    """The same room with aiohttp's WebSocket server, written as its docs show: one handler
    coroutine per connection, `await ws.send_str(frame)` to each member of the room."""
    from aiohttp import WSMsgType, web

    rooms: dict[str, set[web.WebSocketResponse]] = {}

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        user_id = request.query.get("userId", "anon")
        clients = rooms.setdefault(request.path, set())
        clients.add(ws)
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if data.get("_tag") == "Say":
                    out = {"_tag": "Message", "text": data["text"], "userId": user_id, "ts": time.time() * 1000}
                    frame = json.dumps(out, separators=(",", ":"))
                    for member in list(clients):
                        if not member.closed:
                            await member.send_str(frame)
        finally:
            clients.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/ws/chat/{id}", handler)
    web.run_app(app, host=HOST, port=port, print=None, access_log=None)


def _serve_socketio(port: int) -> None:
    """The same room with python-socketio (ASGI, under uvicorn as for our ASGI transport): each
    connection joins the room named in its query; a `say` event is emitted to the room once."""
    import socketio  # type: ignore[import-untyped]  # python-socketio ships no type information
    import uvicorn

    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
    users: dict[str, tuple[str, str]] = {}  # sid -> (user, room)

    @sio.event  # type: ignore[untyped-decorator]  # python-socketio is untyped
    async def connect(sid: str, environ: dict[str, object]) -> None:
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        users[sid] = (query.get("userId", ["anon"])[0], query.get("room", ["bench"])[0])
        await sio.enter_room(sid, users[sid][1])

    @sio.event  # type: ignore[untyped-decorator]  # python-socketio is untyped
    async def say(sid: str, data: dict[str, str]) -> None:
        user, room = users.get(sid, ("anon", "bench"))
        out = {"_tag": "Message", "text": data["text"], "userId": user, "ts": time.time() * 1000}
        await sio.emit("message", out, room=room)

    @sio.event  # type: ignore[untyped-decorator]  # python-socketio is untyped
    async def disconnect(sid: str, *args: object) -> None:
        users.pop(sid, None)

    app = socketio.ASGIApp(sio)
    uvicorn.run(app, host=HOST, port=port, ws="websockets-sansio", log_level="warning", lifespan="off")


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
    env = {**os.environ, SECRET_ENV: BENCH_SECRET}  # our chat signs its users' tokens with it
    proc = subprocess.Popen([sys.executable, "-m", "bench.server", f"serve-{kind}", str(port)], env=env)
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


class _Client(asyncio.Protocol):
    """One load-generator connection: the `websockets` sans-I/O client protocol on a bare asyncio
    protocol, so that the generator costs little per frame and the server, not the generator, is the
    bottleneck. Counts the Messages it receives; latency = receive time - send time carried in the text.

    With `raw`, the server's frames after the handshake are split by hand instead of by the protocol
    (unmasked, unfragmented text frames, pings answered): the big room's 100,000 deliveries a second
    would otherwise take the generator more than a core and measure its backlog, not the server's."""

    def __init__(self, name: str, url: str, socketio: bool = False, raw: bool = False) -> None:
        self.name = name
        self.socketio = socketio  # Socket.IO's framing: "0" open, "40" connect, "2"/"3" ping/pong, "42" events
        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received = 0
        self.last_frame = 0.0
        self.latencies: list[float] = []
        self.echo = asyncio.Event()
        self.echoes = 0
        self.record = False
        self.raw = raw
        self.buffer: bytearray | None = None  # after the handshake, with `raw`: bytes of a frame not complete yet

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.proto.send_request(self.proto.connect())
        self._write()

    def _write(self) -> None:
        assert self.transport is not None
        for data in self.proto.data_to_send():
            if data:
                self.transport.write(data)

    def send_text(self, text: str) -> None:
        self.proto.send_text(text.encode())
        self._write()

    def say(self, text: str) -> None:
        event = {"_tag": "Say", "text": text}
        self.send_text("42" + json.dumps(["say", event]) if self.socketio else json.dumps(event))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.buffer is not None:
            self._raw_frames(data, now)
            return
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Response):
                if not self.opened.done() and not self.socketio:
                    self.opened.set_result(None)
                continue
            if not isinstance(event, Frame) or event.opcode is not Opcode.TEXT:
                continue
            self._text(bytes(event.data), now)
        if self.raw and self.opened.done():
            reader = self.proto.reader.buffer  # what the protocol has of a frame not complete yet: ours now
            self.buffer = bytearray(reader)
            reader.clear()
        self._write()

    def _raw_frames(self, data: bytes, now: float) -> None:
        buffer = self.buffer
        assert buffer is not None
        if not buffer and len(data) >= 2 and data[0] == 0x81 and len(data) == 2 + data[1] < 128:
            self._text(data[2:], now)  # the common case: one small text frame in one read
            return
        buffer += data
        pos = 0
        while len(buffer) - pos >= 2:
            first, size, head = buffer[pos], buffer[pos + 1], 2
            if size & 0x80 or not first & 0x80:
                raise AssertionError("a server frame that is masked or fragmented")
            if size == 126:
                size, head = int.from_bytes(buffer[pos + 2 : pos + 4]), 4
            elif size == 127:
                size, head = int.from_bytes(buffer[pos + 2 : pos + 10]), 10
            end = pos + head + size
            if len(buffer) - pos < head or len(buffer) < end:
                break
            payload = bytes(buffer[pos + head : end])
            pos = end
            opcode = first & 0x0F
            if opcode == Opcode.TEXT.value:
                self._text(payload, now)
            elif opcode == Opcode.PING.value:
                self.proto.send_pong(payload)
                self._write()
        del buffer[:pos]

    def _text(self, raw: bytes, now: float) -> None:
        self.last_frame = now
        if self.socketio and not raw.startswith(b"42"):
            self._socketio_control(raw)
            self._write()
            return
        if b'"Message"' not in raw:  # UserJoined / UserLeft from our server
            return
        text: str = (json.loads(raw[2:])[1] if self.socketio else json.loads(raw))["text"]
        sender, _, sent = text.partition("|")
        if not self.record:
            return
        self.received += 1
        self.latencies.append(now - float(sent))
        if sender == self.name:
            self.echoes += 1
            self.echo.set()

    def _socketio_control(self, raw: bytes) -> None:
        if raw.startswith(b"0"):  # engine.io open: connect to the default namespace
            self.proto.send_text(b"40")
        elif raw.startswith(b"40") and not self.opened.done():
            self.opened.set_result(None)
        elif raw == b"2":  # engine.io ping
            self.proto.send_text(b"3")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"{self.name}: connection lost during the handshake"))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _RawClient(_Client, asyncio.BufferedProtocol):
    """A `raw` client that reads into the generator's one buffer: with a plain `Protocol`, asyncio
    allocates a 256 KiB bytes object per read, which glibc maps and unmaps each time (40% of the
    generator's CPU in the big room, where every read is one small frame)."""

    def get_buffer(self, sizehint: int) -> memoryview:
        return _READ_BUFFER

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(_READ_BUFFER[:nbytes]))


_READ_BUFFER = memoryview(bytearray(256 << 10))


async def _open(
    port: int, names: list[str], socketio: bool = False, raw: bool = False, rooms: int = 1
) -> list[_Client]:
    """Connect `names` in order; with `rooms`, client i joins room `bench{i % rooms}`."""
    loop = asyncio.get_running_loop()
    clients: list[_Client] = []
    for i, name in enumerate(names):  # one at a time: the servers see the same, gentle, connection rate
        room = "bench" if rooms == 1 else f"bench{i % rooms}"
        path = f"/socket.io/?EIO=4&transport=websocket&room={room}&" if socketio else f"/ws/chat/{room}?"
        # The peers take the name as given; our chat takes it from a signed token (examples/chat/identity.py).
        token = sign(name, secret=BENCH_SECRET.encode())
        url = f"ws://{HOST}:{port}{path}userId={name}&token={token}"
        client = _RawClient(name, url, socketio, raw) if raw else _Client(name, url, socketio)
        await loop.create_connection(lambda c=client: c, HOST, port)  # type: ignore[misc]  # the default binds this client
        await client.opened
        clients.append(client)
    return clients


async def _drain(clients: list[_Client], quiet: float = QUIET) -> None:
    """Wait until no client got a frame for `quiet` seconds (bounded by PHASE_TIMEOUT)."""
    deadline = time.monotonic() + PHASE_TIMEOUT
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet)
        if all(time.perf_counter() - c.last_frame >= quiet for c in clients):
            return
    raise RuntimeError("clients still receiving after the phase timeout")


def _close(clients: list[_Client]) -> None:
    for client in clients:
        client.abort()


@dataclass(frozen=True)
class ChatResult:
    cpu_per_delivery: float  # seconds
    p50: float
    p99: float
    deliveries: int
    expected: int
    wall: float


async def _send_burst(client: _Client, count: int) -> None:
    """Open loop: send every message at once, then wait for the last one to come back."""
    for _ in range(count):
        client.say(f"{client.name}|{time.perf_counter()!r}")
    while client.echoes < count:
        client.echo.clear()
        await asyncio.wait_for(client.echo.wait(), timeout=PHASE_TIMEOUT)


async def _send_loop(client: _Client, count: int) -> None:
    for _ in range(count):
        client.echo.clear()
        client.say(f"{client.name}|{time.perf_counter()!r}")
        await asyncio.wait_for(client.echo.wait(), timeout=PHASE_TIMEOUT)


async def _chat(
    pid: int, port: int, burst: bool, n_clients: int, n_messages: int, socketio: bool, rooms: int = 1
) -> ChatResult:
    """SENDERS of the clients send; with `rooms`, they are one per room (SENDERS = rooms)."""
    assert rooms in (1, SENDERS)
    clients: list[_Client] = []
    try:
        names = [f"u{i}" for i in range(n_clients)]
        clients = await asyncio.wait_for(_open(port, names, socketio, rooms=rooms), timeout=PHASE_TIMEOUT)
        await _drain(clients)
        for client in clients:
            client.record = True
        per_sender = n_messages // SENDERS
        cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*((_send_burst if burst else _send_loop)(c, per_sender) for c in clients[:SENDERS])),
            timeout=PHASE_TIMEOUT,
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
            expected=per_sender * SENDERS * n_clients // rooms,
            wall=wall,
        )
    finally:
        _close(clients)


async def _idle_rss(pid: int, port: int, socketio: bool) -> float:
    """Server RSS bytes per idle connection."""
    clients: list[_Client] = []
    try:
        warmup = [f"w{i}" for i in range(IDLE_WARMUP)]
        clients = await asyncio.wait_for(_open(port, warmup, socketio), PHASE_TIMEOUT)
        await _drain(clients)
        before = _rss_bytes(pid)
        idle = [f"i{i}" for i in range(IDLE_CLIENTS)]
        more = await asyncio.wait_for(_open(port, idle, socketio), PHASE_TIMEOUT)
        clients += more
        await _drain(clients)
        await asyncio.sleep(0.5)
        return (_rss_bytes(pid) - before) / IDLE_CLIENTS
    finally:
        _close(clients)


@dataclass(frozen=True)
class BigRoomResult:
    connect_wall: float  # seconds to connect every client, one after another
    connect_cpu: float  # server CPU seconds for it
    p50: float
    p99: float
    cpu_share: float  # server CPU seconds / wall seconds while the sender sends
    deliveries: int
    expected: int


async def _big_room(pid: int, port: int, socketio: bool) -> BigRoomResult:
    """BIG_ROOM clients in one room; one of them says BIG_ROOM_RATE messages a second for BIG_ROOM_SECONDS."""
    clients: list[_Client] = []
    try:
        cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
        names = [f"b{i}" for i in range(BIG_ROOM)]
        clients = await asyncio.wait_for(_open(port, names, socketio, raw=not socketio), BIG_ROOM_CONNECT_TIMEOUT)
        connect_wall, connect_cpu = time.perf_counter() - t0, _cpu_seconds(pid) - cpu0
        await _drain(clients)
        for client in clients:
            client.record = True
        # Every BIG_ROOM_SAMPLE-th client (across the room's connection order) reads as frames come;
        # the others leave them in their kernel buffers until the sending is over. The server does
        # the same work; the generator reads a tenth as much meanwhile, so the latency is the
        # server's, not the generator's backlog.
        sampled = clients[::BIG_ROOM_SAMPLE]
        waiting = [c for i, c in enumerate(clients) if i % BIG_ROOM_SAMPLE]
        for client in waiting:
            assert client.transport is not None
            client.transport.pause_reading()
        sender = clients[0]
        count = int(BIG_ROOM_RATE * BIG_ROOM_SECONDS)
        cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
        for i in range(count):
            sender.say(f"{sender.name}|{time.perf_counter()!r}")
            await asyncio.sleep(max(0.0, t0 + (i + 1) / BIG_ROOM_RATE - time.perf_counter()))
        await _drain(sampled, BIG_ROOM_QUIET)
        cpu_share = (_cpu_seconds(pid) - cpu0) / (time.perf_counter() - t0 - BIG_ROOM_QUIET)
        for client in waiting:
            assert client.transport is not None
            client.transport.resume_reading()
        await _drain(clients, BIG_ROOM_QUIET)
        latencies = sorted(x for c in sampled for x in c.latencies)
        n = len(latencies)
        return BigRoomResult(
            connect_wall=connect_wall,
            connect_cpu=connect_cpu,
            p50=latencies[n // 2],
            p99=latencies[min(n - 1, int(n * 0.99))],
            cpu_share=cpu_share,
            deliveries=sum(c.received for c in clients),
            expected=count * BIG_ROOM,
        )
    finally:
        _close(clients)


async def _run_big_room(kind: str) -> BigRoomResult:
    with _server(kind) as (pid, port):
        return await _big_room(pid, port, kind == "socketio")


# -- report -----------------------------------------------------------------------------------


def _goal(ratio: float, goal: float) -> str:
    if ratio <= goal:
        return f"≤ {goal}x (met)"
    return f"≤ {goal}x (missed by {(ratio / goal - 1) * 100:.1f}%)"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


async def _run_chat(kind: str, burst: bool, n_clients: int, n_messages: int, rooms: int = 1) -> ChatResult:
    with _server(kind) as (pid, port):
        return await _chat(pid, port, burst, n_clients, n_messages, kind == "socketio", rooms)


async def _run_rss(kind: str) -> float:
    with _server(kind) as (pid, port):
        return await _idle_rss(pid, port, kind == "socketio")


PHASES = ("chat", "rss", "bigroom")
BIG_ROOM_SERVERS = ("baseline", "aiohttp", "native")
"""Left out of the big room: the ASGI transport and python-socketio (a task and an ASGI send per frame per socket)."""
BIG_ROOM_KIND = {"native": "native-quiet"}
"""Ours serves the big room without join and leave broadcasts (bench/quiet_chat.py), as the peers do."""


async def _chat_rows(servers: tuple[str, ...], rows: list[tuple[str, ...]], peer_rows: list[tuple[str, ...]]) -> None:
    n_rooms, rooms_clients, rooms_messages = ROOMS_CASE
    cases = [(*case, 1) for case in CHAT_CASES] + [(False, rooms_clients, rooms_messages, n_rooms)]
    for burst, n_clients, n_messages, rooms in cases:
        spread = f" in {rooms} rooms" if rooms > 1 else ""
        case = f"{'burst' if burst else 'chat'}, C = {n_clients}{spread}, {n_messages:,} msgs"
        results: dict[str, ChatResult] = {}
        for kind in servers:
            results[kind] = await _run_chat(kind, burst, n_clients, n_messages, rooms)
        base = results["baseline"]
        for r in results.values():
            if r.deliveries != r.expected:
                raise AssertionError(f"{r.deliveries} deliveries, expected {r.expected}")
        for transport in (t for t in OURS if t in results):
            ours = results[transport]
            ratio = ours.cpu_per_delivery / base.cpu_per_delivery
            goal = CPU_GOALS_AT_500.get(transport, CPU_GOALS[transport]) if n_clients >= 500 else CPU_GOALS[transport]
            goal_text = "—" if rooms > 1 else _goal(ratio, goal)  # the goals are for one room
            rows.append(
                (
                    f"{case} ({ours.deliveries:,} deliveries)",
                    transport,
                    f"{ours.cpu_per_delivery * 1e6:.1f} µs",
                    f"{base.cpu_per_delivery * 1e6:.1f} µs",
                    f"{ratio:.2f}x",
                    goal_text,
                    f"{_ms(ours.p50)} / {_ms(ours.p99)}",
                    f"{_ms(base.p50)} / {_ms(base.p99)}",
                )
            )
        for kind, label in SERVERS:
            if kind not in results:
                continue
            r = results[kind]
            peer_rows.append(
                (
                    case,
                    label,
                    f"{r.cpu_per_delivery * 1e6:.1f} µs",
                    f"{r.cpu_per_delivery / base.cpu_per_delivery:.2f}x",
                    f"{_ms(r.p50)} / {_ms(r.p99)}",
                )
            )


async def _rss_rows(servers: tuple[str, ...], rows: list[tuple[str, ...]], peer_rows: list[tuple[str, ...]]) -> None:
    rss = {kind: await _run_rss(kind) for kind in servers if kind != "native-db"}  # storage holds no sockets
    for transport in (t for t in TRANSPORTS if t in rss):
        kb = rss[transport] / 1024
        goal_kb = RSS_GOALS_KB[transport]
        goal = "met" if kb <= goal_kb else f"missed by {(kb / goal_kb - 1) * 100:.1f}%"
        rows.append(
            (
                f"RSS per idle connection, {IDLE_CLIENTS:,} clients",
                transport,
                f"{kb:.1f} KB",
                f"{rss['baseline'] / 1024:.1f} KB",
                f"{rss[transport] / rss['baseline']:.2f}x",
                f"≤ {goal_kb:.0f} KB ({goal})",
                "—",
                "—",
            )
        )
    for kind, label in SERVERS:
        if kind in rss:
            peer_rows.append(
                (
                    f"RSS per idle connection, {IDLE_CLIENTS:,} clients",
                    label,
                    f"{rss[kind] / 1024:.1f} KB",
                    f"{rss[kind] / rss['baseline']:.2f}x",
                    "—",
                )
            )


BIG_ROOM_CONNECT_GOAL = 1.5  # ours ≤ 1.5x the websockets baseline's wall time to connect them all
BIG_ROOM_P99_GOAL = 0.1  # seconds
BIG_ROOM_CPU_GOAL = 0.6  # of a core


async def _big_room_rows(
    servers: tuple[str, ...], rows: list[tuple[str, ...]], peer_rows: list[tuple[str, ...]]
) -> None:
    base_big: BigRoomResult | None = None
    for kind, label in SERVERS:
        if kind not in servers or kind not in BIG_ROOM_SERVERS:
            continue
        try:
            big = await _run_big_room(BIG_ROOM_KIND.get(kind, kind))
        except TimeoutError:
            peer_rows.append((f"{BIG_ROOM:,} in one room", label, "did not connect them all in time", "—", "—"))
            continue
        base_big = base_big or big  # the websockets baseline comes first
        delivered = "" if big.deliveries == big.expected else f", {big.deliveries / big.expected:.0%} delivered"
        peer_rows.append(
            (
                f"{BIG_ROOM:,} in one room: connect them all",
                label,
                f"{big.connect_wall:.1f} s wall, {big.connect_cpu:.1f} s CPU",
                f"{big.connect_wall / base_big.connect_wall:.2f}x (wall)",
                "—",
            )
        )
        peer_rows.append(
            (
                f"{BIG_ROOM:,} in one room: {BIG_ROOM_RATE:.0f} Says/s for {BIG_ROOM_SECONDS:.0f} s",
                label,
                f"{big.cpu_share * 100:.0f}% of a core{delivered}",
                "—",
                f"{_ms(big.p50)} / {_ms(big.p99)}",
            )
        )
        if kind in TRANSPORTS and base_big is not big:
            ratio = big.connect_wall / base_big.connect_wall
            rows.append(
                (
                    f"{BIG_ROOM:,} in one room: connect them all",
                    kind,
                    f"{big.connect_wall:.1f} s wall",
                    f"{base_big.connect_wall:.1f} s wall",
                    f"{ratio:.2f}x",
                    _goal(ratio, BIG_ROOM_CONNECT_GOAL),
                    "—",
                    "—",
                )
            )
            met = big.p99 < BIG_ROOM_P99_GOAL and big.cpu_share < BIG_ROOM_CPU_GOAL
            rows.append(
                (
                    f"{BIG_ROOM:,} in one room: {BIG_ROOM_RATE:.0f} Says/s for {BIG_ROOM_SECONDS:.0f} s",
                    kind,
                    f"{big.cpu_share * 100:.0f}% of a core{delivered}",
                    f"{base_big.cpu_share * 100:.0f}% of a core",
                    "—",
                    f"p99 < {BIG_ROOM_P99_GOAL * 1000:.0f} ms, < {BIG_ROOM_CPU_GOAL:.0%} of a core"
                    f" ({'met' if met else 'missed'})",
                    f"{_ms(big.p50)} / {_ms(big.p99)}",
                    f"{_ms(base_big.p50)} / {_ms(base_big.p99)}",
                )
            )


async def _measure(phases: tuple[str, ...], servers: tuple[str, ...]) -> tuple[list[str], list[str]]:
    rows: list[tuple[str, ...]] = []
    peer_rows: list[tuple[str, ...]] = []
    if "chat" in phases:
        await _chat_rows(servers, rows, peer_rows)
    if "rss" in phases:
        await _rss_rows(servers, rows, peer_rows)
    if "bigroom" in phases:
        await _big_room_rows(servers, rows, peer_rows)
    header = (
        "case",
        "transport",
        "ours (CPU/delivery)",
        "baseline",
        "ratio",
        "goal",
        "ours p50 / p99",
        "baseline p50 / p99",
    )
    peer_header = ("case", "server", "CPU/delivery (RSS)", "ratio to websockets", "p50 / p99")
    return _table(header, rows), _table(peer_header, peer_rows)


def _parse_args(argv: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    import argparse

    kinds = tuple(kind for kind, _ in SERVERS)
    parser = argparse.ArgumentParser(prog="python -m bench.server", description="Self-hosted server benchmark.")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    parser.add_argument(
        "--servers",
        default=",".join(kinds),
        help=f"comma-separated, of {', '.join(kinds)} (the websockets baseline always runs: ratios are to it)",
    )
    args = parser.parse_args(argv)
    phases = tuple(p for p in PHASES if p in args.phases.split(","))
    wanted = set(args.servers.split(",")) | {"baseline"}
    unknown = (set(args.phases.split(",")) - set(PHASES)) | (wanted - set(kinds))
    if unknown:
        parser.error(f"unknown phase or server: {', '.join(sorted(unknown))}")
    return phases, tuple(k for k in kinds if k in wanted)


def main(argv: list[str]) -> None:
    phases, servers = _parse_args(argv)
    _raise_nofile()
    print("# self-hosted server vs websockets baseline (python -m bench.server)")
    for line in _machine():
        print(line)
    ours, peers = asyncio.run(_measure(phases, servers))
    for line in ours:
        print(line)
    print()
    print("## against what users would pick instead (every server measured in this run)")
    for line in peers:
        print(line)


# -- a selection of servers and cases (`python -m bench.server --only ...`) -------------------

SELECT_CASES: dict[str, tuple[bool, int, int, int]] = {
    **{
        f"{'burst' if burst else 'chat'}{n_clients}": (burst, n_clients, n_messages, 1)
        for burst, n_clients, n_messages in CHAT_CASES
    },
    f"rooms{ROOMS_CASE[0]}": (False, ROOMS_CASE[1], ROOMS_CASE[2], ROOMS_CASE[0]),
}
"""The chat cases by name (chat50, chat500, burst500, rooms10); `rss` is the idle-memory case."""


async def _measure_selected(kinds: list[str], cases: list[str], rounds: int) -> list[str]:
    """Each case, `rounds` times, every server in turn (alternating: noise hits all of them alike);
    ratios are to the websockets baseline of the same round when it is among `kinds`."""
    cells: list[tuple[str, ...]] = []
    for case in cases:
        for round_ in range(1, rounds + 1):
            if case == "rss":
                rss = {kind: await _run_rss(kind) for kind in kinds}
                base_rss = rss.get("baseline")
                for kind in kinds:
                    ratio = "—" if base_rss is None else f"{rss[kind] / base_rss:.2f}x"
                    cells.append((case, str(round_), kind, f"{rss[kind] / 1024:.1f} KB", ratio, "—"))
                continue
            results = {kind: await _run_chat(kind, *SELECT_CASES[case]) for kind in kinds}
            base = results.get("baseline")
            for kind, r in results.items():
                if r.deliveries != r.expected:
                    raise AssertionError(f"{kind}: {r.deliveries} deliveries, expected {r.expected}")
                ratio = "—" if base is None else f"{r.cpu_per_delivery / base.cpu_per_delivery:.2f}x"
                cpu = f"{r.cpu_per_delivery * 1e6:.1f} µs"
                cells.append((case, str(round_), kind, cpu, ratio, f"{_ms(r.p50)} / {_ms(r.p99)}"))
    return _table(("case", "round", "server", "CPU/delivery (RSS)", "ratio to baseline", "p50 / p99"), cells)


def select_main(argv: list[str]) -> None:
    """`--only KIND,... [--cases CASE,...] [--rounds N]`: only these servers and cases."""
    import argparse

    kinds = [kind for kind, _label in SERVERS]
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--only", required=True, help=f"servers, comma-separated: {','.join(kinds)}")
    parser.add_argument("--cases", default="chat50", help=f"comma-separated: {','.join(SELECT_CASES)},rss")
    parser.add_argument("--rounds", type=int, default=1, help="measure each case this many times")
    args = parser.parse_args(argv)
    only, cases = args.only.split(","), args.cases.split(",")
    for name in only:
        if name not in kinds:
            parser.error(f"unknown server {name!r}")
    for name in cases:
        if name not in (*SELECT_CASES, "rss"):
            parser.error(f"unknown case {name!r}")
    _raise_nofile()
    for line in asyncio.run(_measure_selected(only, cases, args.rounds)):
        print(line)


if __name__ == "__main__":
    if "--only" in sys.argv[1:] or any(arg.startswith("--only=") for arg in sys.argv[1:]):
        select_main(sys.argv[1:])
    elif len(sys.argv) == 3 and sys.argv[1].startswith("serve-"):
        _raise_nofile()
        kind, port = sys.argv[1].removeprefix("serve-"), int(sys.argv[2])
        if kind == "baseline":
            _serve_baseline(port)
        elif kind == "aiohttp":
            _serve_aiohttp(port)
        elif kind == "socketio":
            _serve_socketio(port)
        elif kind == "native-quiet":
            _serve_ours(port, "native", quiet=True)
        elif kind == "native-db":
            _serve_ours(port, "native", db=True)
        else:
            _serve_ours(port, "native" if kind == "native" else "asgi")
    else:
        main(sys.argv[1:])
