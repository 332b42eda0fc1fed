"""The attachment cap, measured as the Workers runtime measures an attachment:
its structured-clone size, on every host."""

from __future__ import annotations

import json

import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets import AttachmentTooLargeError, EngineOptions
from durable_effect.sockets.engine import MAX_ATTACHMENT_CAP
from durable_effect.sockets.limits import structured_clone_size

from .conftest import RuntimeFactory
from .rooms import ROOM, Lab, Probe, SetNote, join, lab_config

pytestmark = pytest.mark.anyio


def test_the_platform_s_data_points() -> None:
    # Measured by the platform: a 16,384-character ASCII attachment is 16,390 bytes,
    # 10,074 UTF-16 units with one "€" are 20,154 bytes.
    assert structured_clone_size("a" * 16_384) == 16_390
    assert structured_clone_size("€" + "a" * 10_073) == 20_154


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("", 4),
        ("a", 5),
        ("a" * 127, 131),
        ("a" * 128, 133),  # the length takes a second varint byte
        ("é" * 128, 133),  # Latin-1: still one byte a character
        ("€", 6),
        ("€" * 63, 130),
        ("€" * 64, 134),  # 128 bytes: two length bytes, and a padding byte
        ("€" * 8_192, 16_390),
        ("😀", 8),  # outside the BMP: two UTF-16 units
    ],
)
def test_structured_clone_size_of_strings(text: str, size: int) -> None:
    assert structured_clone_size(text) == size


def attachment(name: str, note: str) -> str:
    """The attachment the engine writes for a Lab connection without tags."""
    return json.dumps(
        {"id": name, "tags": [], "state": {"name": name, "note": note}}, separators=(",", ":"), ensure_ascii=False
    )


def note_for(name: str, size: int, fill: str = "n", first: str = "") -> str:
    """The longest note `first + fill * k` whose attachment measures at most `size` bytes."""
    low, high = 0, size  # fits with `low` fill characters, not with `high`
    while high - low > 1:
        mid = (low + high) // 2
        if structured_clone_size(attachment(name, first + fill * mid)) <= size:
            low = mid
        else:
            high = mid
    return first + fill * low


async def test_the_cap_counts_structured_clone_bytes_for_ascii(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe), options=EngineOptions(attachment_cap=MAX_ATTACHMENT_CAP))
    alice = await join(rt, "alice")

    at_cap = note_for("alice", MAX_ATTACHMENT_CAP)
    assert structured_clone_size(attachment("alice", at_cap)) == MAX_ATTACHMENT_CAP
    await run_promise(alice.receive(SetNote(note=at_cap)))
    assert probe.errors == []

    # 16,384 characters of JSON: 16,384 bytes of UTF-8, but 16,390 for the platform.
    over = at_cap + "n" * (MAX_ATTACHMENT_CAP - len(attachment("alice", at_cap)))
    assert len(attachment("alice", over).encode()) == MAX_ATTACHMENT_CAP
    await run_promise(alice.receive(SetNote(note=over)))
    (err,) = probe.errors
    assert isinstance(err, AttachmentTooLargeError)
    assert (err.size, err.limit) == (16_390, MAX_ATTACHMENT_CAP)
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert infos[0].state.note == at_cap


async def test_the_cap_counts_two_bytes_a_unit_outside_latin_1(make_runtime: RuntimeFactory) -> None:
    probe = Probe()
    rt = make_runtime(lab_config(probe), options=EngineOptions(attachment_cap=MAX_ATTACHMENT_CAP))
    alice = await join(rt, "alice")

    # Latin-1 is one byte a character: a note of "é" fits as ASCII does.
    latin = note_for("alice", MAX_ATTACHMENT_CAP, fill="é")
    await run_promise(alice.receive(SetNote(note=latin)))
    assert probe.errors == []

    # One "€" makes every character two bytes: the same length no longer fits...
    await run_promise(alice.receive(SetNote(note="€" + latin[1:])))
    (err,) = probe.errors
    assert isinstance(err, AttachmentTooLargeError) and err.size > 2 * 16_000
    # ... and about half of it does, to the byte.
    euro = note_for("alice", MAX_ATTACHMENT_CAP, first="€")
    assert structured_clone_size(attachment("alice", euro)) == MAX_ATTACHMENT_CAP
    assert len(attachment("alice", euro).encode()) < 8_200
    await run_promise(alice.receive(SetNote(note=euro)))
    await run_promise(alice.receive(SetNote(note=euro + "a")))
    assert len(probe.errors) == 2
    infos = await run_promise(rt.room(Lab).get_connections(ROOM))
    assert infos[0].state.note == euro


def test_the_cap_cannot_exceed_what_the_platform_accepts() -> None:
    assert MAX_ATTACHMENT_CAP == 16_384
    EngineOptions(attachment_cap=MAX_ATTACHMENT_CAP)
    with pytest.raises(ValueError):
        EngineOptions(attachment_cap=MAX_ATTACHMENT_CAP + 1)
