"""`durable-effect serve MODULE:ATTR`: run rooms on this machine (native transport, or uvicorn).

ATTR names a `SocketConfig` (served with defaults) or a function taking the
storage and returning a `SocketServer` (to set `upgrade_options`, a static
directory, ...).

`durable-effect schema MODULE:ATTR [--typescript]`: print the wire contract of
every room (a room, registry, config or server function): JSON Schema, or a
TypeScript `.d.ts` for browser code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from durable_effect.sockets.server import SocketServer

__all__ = ["load_server", "main", "print_schema"]


def _import(target: str) -> object:
    """The object `MODULE:ATTR` names (MODULE importable from the working directory)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"expected MODULE:ATTR, got {target!r}")
    sys.path.insert(0, str(Path.cwd()))
    obj: object = getattr(importlib.import_module(module_name), attr)
    return obj


def load_server(target: str, db: str | None) -> SocketServer:
    """Import `MODULE:ATTR` and make the server it describes."""
    from durable_effect.sockets.registry import SocketConfig
    from durable_effect.sockets.server import (
        MemoryStorage,
        SocketServer,
        SQLiteStorage,
        StorageError,
        make_socket_server,
    )

    obj = _import(target)
    try:
        storage = SQLiteStorage(db) if db else MemoryStorage()
    except StorageError as exc:
        raise SystemExit(f"durable-effect: {exc}") from None
    if isinstance(obj, SocketConfig):
        return make_socket_server(obj, storage=storage)
    if callable(obj):
        server = obj(storage)
        if isinstance(server, SocketServer):
            return server
    raise SystemExit(f"{target} is neither a SocketConfig nor a function (storage) -> SocketServer")


def print_schema(target: str, typescript: bool) -> None:
    """Print the JSON Schema (or `.d.ts`) of the rooms `MODULE:ATTR` declares."""
    import json

    from durable_effect.sockets import wire

    obj = _import(target)
    try:
        rooms = wire.rooms_of(obj)
    except TypeError:
        if not callable(obj):
            raise SystemExit(f"{target} declares no rooms") from None
        rooms = wire.rooms_of(load_server(target, None))
    sys.stdout.write(wire.typescript(rooms) if typescript else json.dumps(wire.schemas(rooms), indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="durable-effect", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve rooms over WebSockets and HTTP")
    serve.add_argument("target", help="MODULE:ATTR, a SocketConfig or a (storage) -> SocketServer function")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument("--db", default=None, help="SQLite file for state and alarms (default: in memory)")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--debug",
        action="store_true",
        help="tell clients the message of an unexpected server failure, not only its class",
    )
    serve.add_argument(
        "--transport",
        choices=["native", "asgi"],
        default=None,
        help="native: asyncio, frames built once (default); asgi: uvicorn",
    )
    schema = commands.add_parser("schema", help="print the rooms' wire contract (JSON Schema or TypeScript)")
    schema.add_argument("target", help="MODULE:ATTR, a WebSocketRoom, SocketRegistry, SocketConfig or server function")
    schema.add_argument("--typescript", action="store_true", help="print a .d.ts instead of JSON Schema")
    args = parser.parse_args(argv)
    if args.command == "schema":
        print_schema(args.target, args.typescript)
        return

    app = load_server(args.target, args.db)
    app.debug = app.debug or args.debug
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    app.run(args.host, args.port, transport=args.transport, log_level=args.log_level)


if __name__ == "__main__":
    main()
