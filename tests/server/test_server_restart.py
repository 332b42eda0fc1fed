"""`durable-effect serve` as a real process over SQLite: kill -9 and restart keep
state and alarms; SIGTERM closes sockets with 1001."""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import connect

from . import server_helpers
from .server_helpers import free_port, http, raise_nofile, recv, serve, wait_closed
from .server_rooms import build

ROOT = Path(__file__).resolve().parents[2]
TARGET = "tests.server.server_rooms:make_server"


@contextmanager
def serve_process(
    db: Path, port: int, log: Path, target: str = TARGET, *, nofile: int | None = None, debug: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    def limit_files() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "durable_effect.cli",
                "serve",
                target,
                "--db",
                str(db),
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--transport",
                server_helpers.transport,
                *(["--debug"] if debug else []),
            ],
            cwd=ROOT,
            preexec_fn=limit_files,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


async def wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path, timeout: float = 15.0) -> None:
    with anyio.fail_after(timeout):
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                status, _ = await http("GET", f"{base}/api/notes/none/state")
            except OSError:
                await asyncio.sleep(0.1)
                continue
            if status == 200:
                return


async def state_of(base: str, id: str) -> Any:
    status, state = await http("GET", f"{base}/api/notes/{id}/state")
    assert status == 200
    return state


@pytest.mark.anyio
async def test_kill_and_restart_keeps_state_and_alarm(tmp_path: Path) -> None:
    db, log = tmp_path / "rooms.db", tmp_path / "server.log"
    port = free_port()
    base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/notes/k1?name=ann&id=ann"
    with serve_process(db, port, log) as proc:
        await wait_ready(proc, base, log)
        async with connect(ws_url) as ann:
            await ann.send(json.dumps({"_tag": "Add", "text": "one"}))
            assert (await recv(ann))["count"] == 1
            status, _ = await http("POST", f"{base}/api/notes/k1/send", {"_tag": "Add", "text": "two"})
            assert status == 200
            assert (await recv(ann))["count"] == 2
            # arm the alarm (1 s) and die before it fires; the frame only
            # comes back once the run (state and alarm) is committed
            await ann.send(json.dumps({"_tag": "Add", "text": "three", "arm": True}))
            assert (await recv(ann))["count"] == 3
            proc.kill()
            proc.wait(timeout=10)
            assert proc.returncode == -9
            assert await wait_closed(ann) == 1006  # no close frame from a killed process

    port = free_port()
    base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/notes/k1?name=ann&id=ann"
    with serve_process(db, port, log) as proc:
        await wait_ready(proc, base, log)
        state = await state_of(base, "k1")
        assert state["count"] == 3
        assert state["last"] == "three"
        # the alarm persisted across the kill and fires after the restart
        with anyio.fail_after(10):
            while (state := await state_of(base, "k1"))["marker"] != "alarm fired":
                await asyncio.sleep(0.1)
        assert state["alarms"] == 1
        assert state["count"] == 3
        # the client reconnects and continues
        async with connect(ws_url) as ann:
            await ann.send(json.dumps({"_tag": "Add", "text": "four"}))
            msg = await recv(ann)
            assert (msg["text"], msg["by"], msg["count"]) == ("four", "ann", 4)
            await ann.send(json.dumps({"_tag": "Who"}))
            assert await recv(ann) == {"_tag": "Echo", "id": "ann", "name": "ann"}
        # the alarm ran once: it is not fired again
        await asyncio.sleep(0.3)
        assert (await state_of(base, "k1"))["alarms"] == 1


async def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=10)
    assert proc.returncode == -9


@pytest.mark.anyio
async def test_an_alarm_killed_in_its_run_runs_again_after_restart(tmp_path: Path) -> None:
    db, log = tmp_path / "rooms.db", tmp_path / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_process(db, port, log) as proc:
        await wait_ready(proc, base, log)
        status, _ = await http("POST", f"{base}/api/notes/a1/send", {"_tag": "Add", "text": "hang-alarm", "arm": True})
        assert status == 200
        await asyncio.sleep(1.5)  # the alarm (1 s) is due, and its run hangs (holding the instance)
        await kill(proc)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_process(db, port, log) as proc:
        await wait_ready(proc, base, log)
        # At-least-once: the interrupted alarm runs again, told of the failure.
        with anyio.fail_after(10):
            while (state := await state_of(base, "a1"))["marker"] == "":
                await asyncio.sleep(0.1)
        assert state["marker"] == "alarm fired on retry 1"
        assert state["alarms"] == 1
        await asyncio.sleep(0.3)
        assert (await state_of(base, "a1"))["alarms"] == 1  # and only once more


@pytest.mark.anyio
async def test_a_run_killed_in_its_commit_leaves_neither_state_nor_alarm(tmp_path: Path) -> None:
    db, log = tmp_path / "rooms.db", tmp_path / "server.log"
    target = "tests.server.server_rooms:make_hanging_server"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_process(db, port, log, target) as proc:
        await wait_ready(proc, base, log)
        status, _ = await http("POST", f"{base}/api/notes/c1/send", {"_tag": "Add", "text": "one"})
        assert status == 200
        async with connect(f"ws://127.0.0.1:{port}/ws/notes/c1?name=ann&id=ann") as ann:
            # This run schedules an alarm, then its commit hangs: kill -9 in there.
            await ann.send(json.dumps({"_tag": "Add", "text": "hang-commit", "arm": True}))
            await asyncio.sleep(0.5)
            await kill(proc)
            assert await wait_closed(ann) == 1006

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_process(db, port, log) as proc:
        await wait_ready(proc, base, log)
        assert (await state_of(base, "c1"))["count"] == 1
        await asyncio.sleep(1.5)  # the alarm would have been due by now
        state = await state_of(base, "c1")
        assert (state["count"], state["last"], state["marker"], state["alarms"]) == (1, "one", "", 0)


@pytest.mark.anyio
async def test_sigterm_closes_sockets_with_1001(tmp_path: Path) -> None:
    db, log = tmp_path / "rooms.db", tmp_path / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_process(db, port, log) as proc:
        await wait_ready(proc, base, log)
        url = f"ws://127.0.0.1:{port}/ws/notes/t1"
        async with connect(f"{url}?name=ann&id=ann") as ann, connect(f"{url}?name=bob&id=bob") as bob:
            await ann.send(json.dumps({"_tag": "Add", "text": "saved"}))
            assert (await recv(bob))["count"] == 1
            assert (await recv(ann))["count"] == 1
            proc.terminate()
            assert await wait_closed(ann) == 1001
            assert await wait_closed(bob) == 1001
            with anyio.fail_after(10):
                while proc.poll() is None:
                    await asyncio.sleep(0.05)
            assert proc.returncode in (0, -15), log.read_text()  # uvicorn re-raises the signal after a clean stop

    # what was committed before SIGTERM is there on the next start
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_process(db, port, log) as proc:
        await wait_ready(proc, base, log)
        state = await state_of(base, "t1")
        assert (state["count"], state["last"]) == (1, "saved")


@pytest.mark.anyio
async def test_shutdown_in_process_closes_with_1001() -> None:
    server = build()
    async with serve(server) as addr:
        url = f"ws://{addr}/ws/notes/s1"
        async with connect(f"{url}?name=ann&id=ann") as ann, connect(f"{url}?name=bob&id=bob") as bob:
            server.shutdown()
            assert await wait_closed(ann) == 1001
            assert await wait_closed(bob) == 1001
            with anyio.fail_after(5):
                while (await http("GET", f"http://{addr}/api/notes/s1/connections"))[1] != []:
                    await asyncio.sleep(0.05)


@pytest.mark.anyio
async def test_a_failure_is_logged_with_its_own_traceback_only(tmp_path: Path) -> None:
    """The server does not run inside an `except ImportError` (the optional uvloop):
    a failure's traceback carries no unrelated chained exception."""
    db, log = tmp_path / "rooms.db", tmp_path / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_process(db, port, log, "tests.server.server_rooms:make_failing_server", debug=True) as proc:
        await wait_ready(proc, base, log)
        status, body = await http("POST", f"{base}/api/notes/f1/send", {"_tag": "Add", "text": "x"})
        assert status == 500
        assert body["error"]["_tag"]
        status, body = await http("GET", f"{base}/api/notes/broken/state")
        assert (status, body["error"]["message"]) == (500, "the server failed (OSError: disk is gone)")  # --debug
        status, _ = await http("GET", f"{base}/api/notes/broken/state")
        assert status == 500
        proc.terminate()
        proc.wait(timeout=10)
    text = log.read_text()
    assert "OSError: disk is gone" in text
    assert "uvloop" not in text and "ImportError" not in text
    assert "During handling of the above exception" not in text


@pytest.mark.anyio
async def test_running_out_of_file_descriptors_is_logged_once_and_survived(tmp_path: Path) -> None:
    """Out of descriptors, accept() fails over and over: the server backs off and logs
    it once per interval instead of a traceback per attempt, and serves again after."""
    raise_nofile(1024)
    db, log = tmp_path / "rooms.db", tmp_path / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve_process(db, port, log, nofile=64) as proc:
        await wait_ready(proc, base, log)
        hogs: list[socket.socket] = []
        try:
            for _ in range(120):  # more connections than the server has descriptors
                hog = socket.socket()
                hog.setblocking(False)
                await asyncio.get_running_loop().sock_connect(hog, ("127.0.0.1", port))
                hogs.append(hog)
            await asyncio.sleep(1.5)  # asyncio retries accept() each second meanwhile
        finally:
            for hog in hogs:
                hog.close()
        with anyio.fail_after(10):
            while True:  # descriptors are free again: the server answers
                try:
                    if (await http("GET", f"{base}/api/notes/none/state"))[0] == 200:
                        break
                except OSError:
                    await asyncio.sleep(0.2)
        proc.terminate()
        proc.wait(timeout=10)
    text = log.read_text()
    assert 1 <= text.count("out of file descriptors") <= 2, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
