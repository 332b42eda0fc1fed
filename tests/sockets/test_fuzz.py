"""Property: no inbound frame that is not a valid event changes anything."""

from __future__ import annotations

import json
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from durable_effect.effect import run_promise
from durable_effect.sockets import InMemorySocketRuntime

from .conftest import runtimes
from .rooms import ROOM, Inc, Lab, LabConn, LabState, Probe, Said, Shout, join, lab_config

TAGS = ["Inc", "Shout", "Whisper", "SetNote", "Do", "Schedule", "Ask", "Greet", "Said", "Nope", ""]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
FIELDS = ["by", "text", "to", "note", "action", "code", "in_ms", "name", "x"]
field_names = st.sampled_from(FIELDS) | st.text(max_size=6)
json_dicts = st.dictionaries(field_names, json_values, max_size=4)
tags = st.sampled_from(TAGS) | st.text(max_size=6)
tagged_dicts = st.builds(lambda tag, rest: {**rest, "_tag": tag}, tags, json_dicts)
frames: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    json_dicts,
    tagged_dicts,
    tagged_dicts.map(lambda d: json.dumps(d).encode()),
)


def is_valid_event(frame: Any) -> bool:
    data = frame if isinstance(frame, str | bytes) else json.dumps(frame)
    try:
        Lab.event.validate_json(data)
    except (ValidationError, ValueError):
        return False
    return True


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(frames, min_size=1, max_size=4))
def test_invalid_frames_change_nothing(host_case: tuple[str, str], batch: list[Any]) -> None:
    bad = [f for f in batch if not is_valid_event(f)]
    probe = Probe()

    async def main() -> None:
        async with runtimes(host_case[0]) as make_runtime:
            await story(make_runtime(lab_config(probe, on_error="record")))

    async def story(rt: InMemorySocketRuntime) -> None:
        alice = await join(rt, "alice", note="n")
        bob = await join(rt, "bob")
        await run_promise(bob.receive(Inc(by=3)))
        before = await run_promise(rt.room(Lab).get_state(ROOM))
        received_before = len(bob.received)

        for frame in bad:
            await run_promise(alice.receive_raw(frame))

        assert await run_promise(rt.room(Lab).get_state(ROOM)) == before == LabState(count=3)
        assert len(probe.decode_errors) == len(bad)
        assert probe.errors == []
        assert alice.is_open() and bob.is_open()
        assert len(bob.received) == received_before  # nothing was broadcast
        infos = await run_promise(rt.room(Lab).get_connections(ROOM))
        expected = [("alice", LabConn(name="alice", note="n")), ("bob", LabConn(name="bob"))]
        assert [(i.id, i.state) for i in infos] == expected
        await run_promise(alice.receive(Shout(text="after")))
        assert bob.received[-1] == Said(text="after", by="alice")

    anyio.run(main, backend=host_case[1])
