"""The package as a user installs it: a wheel built from the source, installed
with its `server` extra into a fresh venv (from the package index), serves a
room module of the user's own with `durable-effect serve`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOM_MODULE = """
from pydantic import BaseModel

from durable_effect.sockets import Schema, SocketRegistry, TaggedStruct, WebSocketRoom


class Ping(TaggedStruct, tag="Ping"):
    pass


class Seen(BaseModel):
    name: str = "anon"


Pings = WebSocketRoom.make("pings", state=Seen, connection=Seen, event=Schema.union(Ping), broadcast=Schema.union(Ping))
registry = SocketRegistry.make(Pings)
config = registry.build({"pings": registry.handler("pings")})
"""


def venv_bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if sys.platform == "win32" else "bin") / name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthz(url: str, process: subprocess.Popen[str], timeout: float) -> int:
    """GET /healthz, retried while the server starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None:
                raise AssertionError(f"the server exited: {process.communicate()[0]}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_built_wheel_installs_in_a_fresh_venv_and_serves(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a clean copy: no stale build/ of the checkout gets into the wheel
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(source)], check=True, timeout=120)
    (wheel,) = wheels.glob("durable_effect-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    python = venv_bin(venv, "python")
    install = [str(python), "-m", "pip", "--disable-pip-version-check", "-q", "install", f"{wheel}[server]"]
    subprocess.run(install, check=True, timeout=240)

    project = tmp_path / "project"  # the user's own code, outside the checkout
    project.mkdir()
    (project / "myrooms.py").write_text(ROOM_MODULE)
    port = free_port()
    serve = [str(venv_bin(venv, "durable-effect")), "serve", "myrooms:config", "--port", str(port)]
    process = subprocess.Popen(serve, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert healthz(f"http://127.0.0.1:{port}/healthz", process, timeout=30) == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "pings" in output  # the start-up line names the room it serves
    # the installed package, not the checkout, was imported
    where = subprocess.run(
        [str(python), "-c", "import durable_effect; print(durable_effect.__file__)"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert str(venv) in where
