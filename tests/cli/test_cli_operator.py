"""The `durable-effect` command as an operator meets it, in a subprocess each:
--version, `python -m durable_effect`, defaults in --help, settings from the
environment, a start-up line, and every mistake as one line and a non-zero exit."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

import durable_effect

ROOT = Path(__file__).resolve().parents[2]
ROOMS = "tests.server.server_rooms:make_server"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "durable_effect", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("durable-effect: ")
    return lines[0]


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"durable-effect {durable_effect.__version__}"


def test_help_shows_defaults_and_environment_names() -> None:
    result = run("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "(default: 8787)" in text and "(default: 127.0.0.1)" in text and "(default: info)" in text
    assert "$DURABLE_EFFECT_PORT or $PORT" in text and "$DURABLE_EFFECT_DB" in text


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["serve", "nosuchmodule:config"], {}, "cannot import 'nosuchmodule'"),
        (["serve", "tests.server.server_rooms:nosuch"], {}, "has no attribute 'nosuch'"),
        (["serve", "tests.cli.targets:two_args"], {}, "must take one argument, the storage"),
        (["serve", "tests.cli.targets:NOT_A_SERVER"], {}, "neither a SocketConfig nor a function"),
        (["serve", "tests.cli.targets:wrapped"], {}, "wrapped in ASGI middleware is run with uvicorn itself"),
        (["serve", ROOMS, "--log-level", "loud"], {}, "invalid choice: 'loud'"),
        (["serve", ROOMS], {"DURABLE_EFFECT_LOG_LEVEL": "loud"}, "invalid choice: 'loud'"),
        (["serve", ROOMS], {"PORT": "eighty"}, "not a port number: 'eighty'"),
        (["serve", "no-colon"], {}, "expected MODULE:ATTR"),
        (["bogus"], {}, "invalid choice: 'bogus'"),
        (["serve", ROOMS, "--allow-origin", "app.example"], {}, "--allow-origin: 'app.example' is not an origin"),
        (
            ["serve", ROOMS],
            {"DURABLE_EFFECT_CORS_ORIGINS": "https://a.example/app"},
            "--cors-origin: 'https://a.example/app'",
        ),
    ],
)
def test_a_mistake_is_one_line_and_a_non_zero_exit(args: list[str], env: dict[str, str], says: str) -> None:
    assert says in one_line_error(run(*args, env=env))


@pytest.mark.parametrize("transport", ["native", "asgi"])
def test_a_port_in_use_is_one_line(transport: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(run("serve", ROOMS, "--port", str(port), "--transport", transport))
    assert f"127.0.0.1:{port}" in line and "already in use" in line


@contextmanager
def serving(args: list[str], env: dict[str, str]) -> Iterator[tuple[int, str]]:
    """`durable-effect serve ARGS` on a free port; yield the port and the start-up line."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "durable_effect", "serve", *args],
        cwd=ROOT,
        env={**os.environ, "PORT": str(port), **env},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in proc.stderr or []:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        while True:
            line = lines.get(timeout=30)
            if "serving" in line:
                break
        yield port, line
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("transport", ["native", "asgi"])
def test_serve_takes_its_settings_from_the_environment(tmp_path: Path, transport: str) -> None:
    db = tmp_path / "rooms.db"
    with serving([ROOMS], {"DURABLE_EFFECT_DB": str(db), "DURABLE_EFFECT_TRANSPORT": transport}) as (port, line):
        assert f"serving rooms notes on http://127.0.0.1:{port} ({transport} transport, state in {db})" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200
    assert db.exists()


def upgrade_status(port: int, origin: str) -> int:
    """The status of a WebSocket upgrade that a page of `origin` asks for."""
    try:
        with connect(f"ws://127.0.0.1:{port}/ws/notes/n1", origin=Origin(origin), open_timeout=10):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def preflight(port: int, origin: str) -> tuple[int, str | None]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/notes/n1/state",
        method="OPTIONS",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers.get("Access-Control-Allow-Origin")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Access-Control-Allow-Origin")


def test_origins_from_the_command_line_and_the_environment() -> None:
    args = [ROOMS, "--allow-origin", "https://App.example", "--allow-origin", "http://localhost:5173/"]
    env = {"DURABLE_EFFECT_CORS_ORIGINS": "https://app.example, https://admin.example"}
    with serving(args, env) as (port, _):
        assert upgrade_status(port, "https://app.example") == 101
        assert upgrade_status(port, "http://localhost:5173") == 101
        assert upgrade_status(port, "https://evil.example") == 403
        assert preflight(port, "https://admin.example") == (204, "https://admin.example")
        assert preflight(port, "https://evil.example")[1] is None
    with serving([ROOMS], {}) as (port, _):  # none given: only the server's own origin
        assert upgrade_status(port, "https://app.example") == 403
