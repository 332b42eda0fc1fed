"""`durable-effect serve MODULE:ATTR`: run rooms on this machine under uvicorn.

ATTR names a `SocketConfig` (served with defaults) or a function taking the
storage and returning a `SocketServer` (to set `upgrade_options`, a static
directory, ...).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

__all__ = ["load_server", "main"]


def load_server(target: str, db: str | None) -> object:
    """Import `MODULE:ATTR` and make the server it describes."""
    from durable_effect.sockets.registry import SocketConfig
    from durable_effect.sockets.server import MemoryStorage, SocketServer, SQLiteStorage, make_socket_server

    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"expected MODULE:ATTR, got {target!r}")
    sys.path.insert(0, str(Path.cwd()))
    obj = getattr(importlib.import_module(module_name), attr)
    storage = SQLiteStorage(db) if db else MemoryStorage()
    if isinstance(obj, SocketConfig):
        return make_socket_server(obj, storage=storage)
    if callable(obj):
        server = obj(storage)
        if isinstance(server, SocketServer):
            return server
    raise SystemExit(f"{target} is neither a SocketConfig nor a function (storage) -> SocketServer")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="durable-effect", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve rooms over WebSockets and HTTP")
    serve.add_argument("target", help="MODULE:ATTR, a SocketConfig or a (storage) -> SocketServer function")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument("--db", default=None, help="SQLite file for state and alarms (default: in memory)")
    serve.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    import uvicorn

    from durable_effect.sockets.server import SocketServer

    app = load_server(args.target, args.db)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # Close the sockets with 1001 (going away) first: uvicorn's own
            # shutdown would otherwise close them with 1012 before the app's
            # lifespan shutdown runs. Storage is closed by the lifespan (every
            # handler run is already committed).
            if isinstance(app, SocketServer):
                app.shutdown()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]  # an ASGI 3 callable; uvicorn's own type is narrower than the protocol
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws="websockets-sansio",
        lifespan="on",
    )
    Server(config).run()


if __name__ == "__main__":
    main()
