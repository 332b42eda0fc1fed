"""Rooms benchmarks: `python -m bench.rooms` (or `make bench`).

Two measurements on the in-memory host, each against a plain-Python baseline
measured in the same process, best of `REPS` repetitions:

- fan-out: one broadcast to N = 10 … 10,000 connections through the direct
  API (`await run_promise(rt.room(Chat).broadcast(id, msg))`), per delivered
  message, against encoding the message once (`msg.to_json()`) and appending
  the frame to N lists;
- end to end: `Say` frames into a 10-connection chat room (decode → on_event →
  state update → broadcast to all 10), as events per second, against the same
  handler written by hand (pydantic decode, dict state update, encode once,
  append to 10 lists). Ours is driven two ways: at the host entry point a real
  host calls (`await instance.message(socket, frame)`), and through the test
  harness (`await run_promise(conn.receive_raw(frame))`).

The room is the chat of `examples/chat` (the seed's Quick start).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

from bench.report import fmt_time as _fmt_time
from bench.report import machine as _machine
from bench.report import table as _table
from bench.report import verdict as _verdict
from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, SocketConfig, UpgradeOpts, make_in_memory_socket_runtime
from durable_effect.sockets.memory import START_MS, InMemorySocketRuntime, MemorySocket
from examples.chat.handlers import config as chat_config
from examples.chat.registry import CAMEL, Chat, ChatConnection, Message, Say, registry

REPS = 7
FANOUT_SIZES = (10, 100, 1_000, 10_000)
DELIVERIES_PER_REP = 100_000  # broadcasts per repetition = this / N (at least 3)
FANOUT_GOAL_N = 1_000
FANOUT_GOAL = 2.0
E2E_CONNECTIONS = 10
E2E_EVENTS = 3_000
E2E_GOAL = 2.5
ROOM = "bench"


@dataclass(frozen=True)
class Row:
    case: str
    ours: float  # seconds per unit
    baseline: float  # seconds per unit
    unit: str
    goal: float | None
    port: float | None = None  # fan-out only: the host port's own sends, seconds per unit

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline


async def _connect(rt: InMemorySocketRuntime, names: list[str]) -> list[MemorySocket]:
    """Connect `names` to the room; every socket of the room, in connection order."""
    for name in names:
        init = ConnectionInit(id=name, initial_state=ChatConnection(user_id=name, joined_at=START_MS))
        await run_promise(rt.testing_connect(Chat, ROOM, UpgradeOpts(connection=init)))
    return list(rt.host(Chat.name, ROOM).socket_list)


def _clear(sockets: list[MemorySocket]) -> None:
    for socket in sockets:
        socket.frames.clear()


# -- 1. broadcast fan-out ------------------------------------------------------------------


async def _fanout_row(n: int) -> Row:
    # A chat room whose only handler is on_event: connecting 10,000 sockets
    # does not broadcast 10,000 UserJoined messages.
    config: SocketConfig = registry.build({"chat": registry.handler(Chat)})
    rt = make_in_memory_socket_runtime(config)
    sockets = await _connect(rt, [f"user-{i}" for i in range(n)])
    chat = rt.room(Chat)
    msg = Message(text="hello everyone", user_id="user-0", ts=START_MS)
    lists: list[list[str]] = [[] for _ in range(n)]
    calls = max(3, DELIVERIES_PER_REP // n)

    await run_promise(chat.broadcast(ROOM, msg))
    if [s.frames for s in sockets] != [[msg.to_json()]] * n:
        raise AssertionError("fan-out: not every connection got the frame once")

    best_ours = best_base = best_port = float("inf")
    for _ in range(REPS):
        _clear(sockets)
        start = time.process_time()
        for _ in range(calls):
            await run_promise(chat.broadcast(ROOM, msg))
        best_ours = min(best_ours, time.process_time() - start)

        # The floor under the engine: encode once, then the two host-port
        # calls every recipient needs (`is_open`, `send`).
        _clear(sockets)
        start = time.process_time()
        for _ in range(calls):
            frame = msg.to_json()
            for socket in sockets:
                if socket.is_open():
                    socket.send(frame)
        best_port = min(best_port, time.process_time() - start)

        for frames in lists:
            frames.clear()
        start = time.process_time()
        for _ in range(calls):
            frame = msg.to_json()
            for frames in lists:
                frames.append(frame)
        best_base = min(best_base, time.process_time() - start)
    _clear(sockets)
    goal = FANOUT_GOAL if n == FANOUT_GOAL_N else None
    sent = calls * n
    return Row(f"fan-out, N = {n:,}", best_ours / sent, best_base / sent, "msg", goal, best_port / sent)


# -- 2. end to end: Say events into a 10-connection room ----------------------------------------


class PlainSay(BaseModel):
    tag: Literal["Say"] = Field(alias="_tag")
    text: str


class PlainTyping(BaseModel):
    tag: Literal["Typing"] = Field(alias="_tag")


class PlainMessage(BaseModel):
    model_config = CAMEL

    text: str
    user_id: str
    ts: float
    tag: Literal["Message"] = Field(default="Message", alias="_tag")


PLAIN_EVENT: TypeAdapter[PlainSay | PlainTyping] = TypeAdapter(
    Annotated[PlainSay | PlainTyping, Field(discriminator="tag")]
)


class PlainRoom:
    """The chat's Say handler written by hand: no engine, no effects."""

    def __init__(self, connections: int) -> None:
        self.state: dict[str, float] = {"created_at": START_MS, "message_count": 0}
        self.outboxes: list[list[str]] = [[] for _ in range(connections)]

    async def message(self, user_id: str, frame: str) -> None:
        event = PLAIN_EVENT.validate_json(frame)
        if isinstance(event, PlainSay):
            self.state = {**self.state, "message_count": self.state["message_count"] + 1}
            out = PlainMessage(text=event.text, user_id=user_id, ts=START_MS).model_dump_json(by_alias=True)
            for outbox in self.outboxes:
                outbox.append(out)


async def _best_in_turns(runs: list[tuple[Callable[[], Awaitable[None]], Callable[[], None]]]) -> list[float]:
    """The best CPU time of each run over REPS rounds, the runs taking turns in every round."""
    best = [float("inf")] * len(runs)
    for _ in range(REPS):
        for i, (run, reset) in enumerate(runs):
            reset()
            start = time.process_time()
            await run()
            best[i] = min(best[i], time.process_time() - start)
            reset()
    return best


async def _e2e_rows() -> list[Row]:
    rt = make_in_memory_socket_runtime(chat_config)
    init = ConnectionInit(id="alice", initial_state=ChatConnection(user_id="alice", joined_at=START_MS))
    alice = await run_promise(rt.testing_connect(Chat, ROOM, UpgradeOpts(connection=init)))
    sockets = await _connect(rt, [f"user-{i}" for i in range(1, E2E_CONNECTIONS)])
    instance = rt.instance(Chat.name, ROOM)
    sender = sockets[0]
    frame = Say(text="hello everyone").to_json()
    plain = PlainRoom(E2E_CONNECTIONS)

    # Both sides do the same work: one Message to each of the 10 connections per event.
    await instance.message(sender, frame)
    await plain.message("alice", frame)
    expected = Message(text="hello everyone", user_id="alice", ts=START_MS).to_json()
    if [s.frames[-1] for s in sockets] != [expected] * E2E_CONNECTIONS:
        raise AssertionError("end to end: the room did not broadcast the Message to all 10")
    if json.loads(plain.outboxes[0][-1]) != json.loads(expected):
        raise AssertionError("end to end: the plain handler sends a different Message")

    async def engine_entry() -> None:
        for _ in range(E2E_EVENTS):
            await instance.message(sender, frame)

    async def harness() -> None:
        for _ in range(E2E_EVENTS):
            await run_promise(alice.receive_raw(frame))

    async def by_hand() -> None:
        for _ in range(E2E_EVENTS):
            await plain.message("alice", frame)

    def reset_ours() -> None:
        _clear(sockets)

    def reset_plain() -> None:
        for outbox in plain.outboxes:
            outbox.clear()

    base, entry, test = await _best_in_turns(
        [(by_hand, reset_plain), (engine_entry, reset_ours), (harness, reset_ours)]
    )
    state = await run_promise(rt.room(Chat).get_state(ROOM))
    if state is None or state.message_count < 2 * REPS * E2E_EVENTS:
        raise AssertionError("end to end: the room state did not count the messages")
    per_base = base / E2E_EVENTS
    return [
        Row("Say → 10 conns, host entry (instance.message)", entry / E2E_EVENTS, per_base, "event", E2E_GOAL),
        Row("Say → 10 conns, test harness (receive_raw)", test / E2E_EVENTS, per_base, "event", None),
    ]


# -- report ---------------------------------------------------------------------------------


def _fanout_table(rows: list[Row]) -> list[str]:
    cells: list[tuple[str, ...]] = []
    for row in rows:
        goal = "—" if row.goal is None else f"≤ {row.goal:g}x ({_verdict(row.ratio, row.goal)})"
        port = "—" if row.port is None else f"{_fmt_time(row.port, row.unit)} ({row.port / row.baseline:.2f}x)"
        cells.append(
            (
                row.case,
                _fmt_time(row.ours, row.unit),
                _fmt_time(row.baseline, row.unit),
                f"{row.ratio:.2f}x",
                goal,
                port,
            )
        )
    return _table(("case", "ours", "baseline", "ratio", "goal", "host port alone (ratio)"), cells)


def _e2e_table(rows: list[Row]) -> list[str]:
    cells: list[tuple[str, ...]] = []
    for row in rows:
        cells.append(
            (
                row.case,
                f"{1 / row.ours:,.0f} events/s ({_fmt_time(row.ours, row.unit)})",
                f"{1 / row.baseline:,.0f} events/s ({_fmt_time(row.baseline, row.unit)})",
                f"{row.ratio:.2f}x",
                "—" if row.goal is None else f"≤ {row.goal:g}x ({_verdict(row.ratio, row.goal)})",
            )
        )
    return _table(("case", "ours", "plain Python", "ratio (CPU time)", "goal"), cells)


async def _run() -> tuple[list[Row], list[Row]]:
    fanout = [await _fanout_row(n) for n in FANOUT_SIZES]
    return fanout, await _e2e_rows()


def main() -> None:
    started = time.perf_counter()
    print("\ndurable_effect.sockets rooms benchmark (in-memory host)", *_machine(), sep="\n")
    print(f"best of {REPS} (CPU time); each ratio is ours / baseline from this run\n", flush=True)
    fanout, e2e = asyncio.run(_run())
    print("broadcast fan-out, per delivered message:")
    print("\n".join(_fanout_table(fanout)))
    print("\nSay events into a 10-connection room:")
    print("\n".join(_e2e_table(e2e)))
    print(
        "\nbaselines: fan-out = `msg.to_json()` once + append to N lists",
        "(host port alone = `msg.to_json()` once + `socket.is_open()` and `socket.send(frame)` per socket);",
        "end to end = pydantic decode, dict state update, encode once, append to 10 lists.",
        sep="\n  ",
    )
    print(f"total time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
