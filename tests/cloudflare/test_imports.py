"""The Cloudflare host imports on plain CPython: `js`, `workers` and `pyodide`
are imported only when a Durable Object class is built, inside a Worker."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import durable_effect.sockets
import durable_effect.sockets.cloudflare as cf
from durable_effect.sockets.cloudflare import CloudflareEnv, SocketClientService, make_socket_group_do
from examples.chat.handlers import config

group = make_socket_group_do(config, class_name="ChatDO", binding="CHAT_DO")
loaded = sorted(m for m in ("js", "workers", "pyodide", "pyodide.ffi") if m in sys.modules)
print("loaded:", loaded)
try:
    group.DO
except ImportError as exc:
    print("DO needs:", exc.name)
"""


def test_nothing_imports_the_pyodide_modules_at_import_time() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert "loaded: []" in out
    # Only building the Durable Object class asks for the Workers SDK.
    assert "DO needs: workers" in out
