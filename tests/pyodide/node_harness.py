"""Drives `harness.mjs` (Pyodide under Node playing the Durable Object runtime) from pytest.

One node process per test module: `start()` boots Pyodide and loads the
wheels that `make pyodide-deps` put in `.cache/`; `call(op, **args)` sends one
JSON-lines command and returns its result, or raises `HarnessError` with the
runtime's message (a Python traceback when Python raised).
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WHEELS = HERE / ".cache" / "wheels"
OWN_WHEEL = HERE / ".cache" / "own"
PYODIDE = HERE / "node_modules" / "pyodide"

TIMEOUT_S = 60.0


class HarnessError(Exception):
    """A command the harness answered with `ok: false`."""


def wheels() -> list[Path]:
    found = sorted(WHEELS.glob("*.whl")) + sorted(OWN_WHEEL.glob("*.whl"))
    names = {p.name.split("-")[0].lower() for p in found}
    if not PYODIDE.is_dir() or "pydantic_core" not in names or "durable_effect" not in names:
        pytest.fail(
            "the Pyodide test's dependencies are missing: run `make pyodide-deps` "
            "(npm ci in tests/pyodide, pip download of the pinned wheels, this project's wheel)"
        )
    return found


class NodeHarness:
    def __init__(self, name: str) -> None:
        node = shutil.which("node")
        if node is None:
            pytest.skip("node is not installed: the Pyodide test needs Node.js (and `make pyodide-deps`)")
        self._node = node
        self._next_id = 0
        self._stderr_path = HERE / ".cache" / f"{name}.stderr.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self.boot_info: dict[str, Any] = {}

    def start(self, sources: list[tuple[Path, str]]) -> dict[str, Any]:
        found = wheels()
        self._stderr_path.parent.mkdir(parents=True, exist_ok=True)
        stderr = self._stderr_path.open("wb")
        self._proc = subprocess.Popen(
            [self._node, str(HERE / "harness.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=HERE,
        )
        stderr.close()
        os.set_blocking(self._proc.stdout.fileno(), False)  # type: ignore[union-attr]  # Popen with PIPE has stdout
        self.boot_info = self.call(
            "boot",
            wheels=[str(p) for p in found],
            sources=[{"from": str(path), "to": to} for path, to in sources],
            timeout=120.0,
        )
        return self.boot_info

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        try:
            self.call_on(proc, "exit", {}, 10.0)
            proc.wait(timeout=10)
        except (HarnessError, OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def stderr_tail(self, lines: int = 40) -> str:
        try:
            text = self._stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def call(self, op: str, *, timeout: float = TIMEOUT_S, **args: Any) -> Any:
        if self._proc is None:
            raise HarnessError("the harness is not running")
        return self.call_on(self._proc, op, args, timeout)

    def call_on(self, proc: subprocess.Popen[bytes], op: str, args: dict[str, Any], timeout: float) -> Any:
        self._next_id += 1
        cmd_id = self._next_id
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps({"id": cmd_id, "op": op, **args}) + "\n").encode())
        proc.stdin.flush()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HarnessError(f"{op}: no answer in {timeout:.0f} s\n{self.stderr_tail()}")
                if not sel.select(left):
                    continue
                chunk = proc.stdout.read()
                if not chunk:
                    raise HarnessError(f"{op}: node exited ({proc.poll()})\n{self.stderr_tail()}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer = json.loads(line)
        if answer["id"] != cmd_id:
            raise HarnessError(f"{op}: answer to command {answer['id']}, expected {cmd_id}")
        if not answer["ok"]:
            raise HarnessError(f"{op}: {answer['error']}")
        return answer["result"]

    # -- conveniences -------------------------------------------------------------

    def py(self, code: str) -> Any:
        """Run Python inside Pyodide; the last expression is a JSON string, returned decoded."""
        out = self.call("py", code=code)
        return None if out is None else json.loads(out)

    def send_text(self, client: int, text: str) -> None:
        self.call("send", client=client, text=text)

    def send_json(self, client: int, message: dict[str, Any]) -> None:
        self.call("send", client=client, text=json.dumps(message))

    def send_bytes(self, client: int, data: bytes) -> None:
        self.call("send", client=client, binary=base64.b64encode(data).decode())

    def frames(self, client: int) -> list[dict[str, Any]]:
        """What the client received since the last read: `{"text"}`, `{"binary"}` or `{"close", "reason"}`."""
        result: list[dict[str, Any]] = self.call("frames", client=client)
        return result

    def messages(self, client: int) -> list[Any]:
        """The text frames received since the last read, JSON-decoded; fails on any other frame."""
        out = []
        for frame in self.frames(client):
            assert "text" in frame, f"client {client} got a non-text frame {frame}"
            out.append(json.loads(frame["text"]))
        return out
