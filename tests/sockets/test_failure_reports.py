"""A failed run is visible: one log line with the room, id, channel, the
error's type and message, and the whole cause; a refused upgrade names the
error's class and nothing more."""

from __future__ import annotations

import logging

import pytest

from durable_effect.effect import run_promise, run_promise_exit

from .conftest import RuntimeFactory
from .rooms import ROOM, Do, Lab, Probe, join, lab_config, lab_opts
from .test_lifecycle import upgrade_error

pytestmark = pytest.mark.anyio


def failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and "failed" in r.getMessage()]


async def test_a_defect_is_logged_with_its_type_message_and_traceback(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_runtime(lab_config(Probe()))
    alice = await join(rt, "alice")
    with caplog.at_level(logging.ERROR, logger="durable_effect.sockets"):
        await run_promise(alice.receive(Do(action="boom")))
    (line,) = failures(caplog)
    first, _, rest = line.partition("\n")
    assert first == f"room lab/{ROOM}: on_event failed: RuntimeError: boom"
    assert "Traceback (most recent call last)" in rest
    assert 'raise RuntimeError("boom")' in rest
    assert "ImportError" not in line


async def test_a_typed_failure_is_logged_with_its_error(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_runtime(lab_config(Probe()))
    alice = await join(rt, "alice")
    with caplog.at_level(logging.ERROR, logger="durable_effect.sockets"):
        await run_promise(alice.receive(Do(action="refuse")))
    (line,) = failures(caplog)
    assert line.startswith(f"room lab/{ROOM}: on_event failed: Nope: ")
    assert "Nope(reason='refused')" in line


async def test_a_failed_on_connect_tells_the_client_the_error_class_only(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    probe = Probe(connect_fails=True)
    rt = make_runtime(lab_config(probe))
    with caplog.at_level(logging.ERROR, logger="durable_effect.sockets"):
        err = await upgrade_error(await run_promise_exit(rt.testing_connect(Lab, ROOM, lab_opts("mallory"))))
    assert err.status == 500
    assert err.message == "on_connect failed: Nope"
    (line,) = failures(caplog)
    assert line.startswith(f"room lab/{ROOM}: on_connect failed: Nope: ")
    assert "connect refused" in line  # the details are in the log, not sent to the client
