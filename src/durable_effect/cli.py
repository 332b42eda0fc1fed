"""`durable-effect serve MODULE:ATTR`: run rooms on this machine (native transport, or uvicorn).

ATTR names a `SocketConfig` (served with defaults) or a function taking the
storage and returning a `SocketServer` (to set `upgrade_options`, a static
directory, ...).

`durable-effect schema MODULE:ATTR [--typescript]`: print the wire contract of
every room (a room, registry, config or server function): JSON Schema, or a
TypeScript `.d.ts` for browser code.

Settings of `serve` may also come from the environment: DURABLE_EFFECT_HOST,
DURABLE_EFFECT_PORT (or PORT), DURABLE_EFFECT_DB, DURABLE_EFFECT_LOG_LEVEL,
DURABLE_EFFECT_TRANSPORT, DURABLE_EFFECT_ALLOWED_ORIGINS and
DURABLE_EFFECT_CORS_ORIGINS (comma-separated), and DURABLE_EFFECT_API_TOKEN
(the direct API's bearer token); a command-line option wins over the
environment.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import inspect
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import durable_effect

if TYPE_CHECKING:
    from durable_effect.sockets.server import SocketServer

__all__ = ["ENVIRONMENT", "load_server", "main", "print_schema"]

ENVIRONMENT: Mapping[str, str] = {
    "host": "DURABLE_EFFECT_HOST",
    "port": "DURABLE_EFFECT_PORT",
    "db": "DURABLE_EFFECT_DB",
    "log_level": "DURABLE_EFFECT_LOG_LEVEL",
    "transport": "DURABLE_EFFECT_TRANSPORT",
    "allow_origin": "DURABLE_EFFECT_ALLOWED_ORIGINS",
    "cors_origin": "DURABLE_EFFECT_CORS_ORIGINS",
}
"""The environment variable each `serve` option falls back to (`PORT` too, for the port)."""
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _fail(message: str) -> NoReturn:
    """End the command with one line on stderr and exit status 2."""
    sys.stderr.write(f"durable-effect: {message}\n")
    raise SystemExit(2)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _fail(f"{message} (see {self.prog} --help)")


def _import(target: str) -> object:
    """The object `MODULE:ATTR` names (MODULE importable from the working directory)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        _fail(f"expected MODULE:ATTR, got {target!r}")
    sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        _fail(f"cannot import {module_name!r}: {exc}")
    try:
        obj: object = getattr(module, attr)
    except AttributeError:
        _fail(f"module {module_name!r} has no attribute {attr!r}")
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
    expected = f"{target} is neither a SocketConfig nor a function (storage) -> SocketServer"
    if not isinstance(obj, SocketConfig) and not callable(obj):
        _fail(expected)
    if not isinstance(obj, SocketConfig) and callable(obj):
        try:
            inspect.signature(obj).bind(None)
        except TypeError:
            _fail(f"{target} must take one argument, the storage: it is called as {target.partition(':')[2]}(storage)")
        except ValueError:  # no signature to inspect (a builtin): let the call decide
            pass
    try:
        storage = SQLiteStorage(db) if db else MemoryStorage()
    except StorageError as exc:
        _fail(str(exc))
    if isinstance(obj, SocketConfig):
        return make_socket_server(obj, storage=storage)
    server = obj(storage)
    if isinstance(server, SocketServer):
        return server
    _fail(
        f"{expected}: it returned {type(server).__name__}"
        " (an app wrapped in ASGI middleware is run with uvicorn itself: see docs/server.md)"
    )


def print_schema(target: str, typescript: bool) -> None:
    """Print the JSON Schema (or `.d.ts`) of the rooms `MODULE:ATTR` declares."""
    import json

    from durable_effect.sockets import wire

    obj = _import(target)
    try:
        rooms = wire.rooms_of(obj)
    except TypeError:
        if not callable(obj):
            _fail(f"{target} declares no rooms")
        rooms = wire.rooms_of(load_server(target, None))
    sys.stdout.write(wire.typescript(rooms) if typescript else json.dumps(wire.schemas(rooms), indent=2) + "\n")


def _env(option: str, default: str | None) -> str | None:
    value = os.environ.get(ENVIRONMENT[option]) or None
    if option == "port" and value is None:
        value = os.environ.get("PORT") or None
    return value if value is not None else default


def _origins(option: str, given: list[str] | None) -> frozenset[str]:
    """The origins of a repeatable option, else of its environment variable (comma-separated);
    each `*` or `scheme://host[:port]`, as a browser sends it in `Origin`."""
    values = given if given is not None else (_env(option, "") or "").split(",")
    origins = frozenset(v.strip().rstrip("/").lower() for v in values if v.strip())
    for origin in origins:
        scheme, sep, rest = origin.partition("://")
        if origin != "*" and (not sep or scheme not in ("http", "https") or not rest or "/" in rest):
            flag = "--" + option.replace("_", "-")
            _fail(f"{flag}: {origin!r} is not an origin (expected * or http(s)://host[:port])")
    return origins


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}")
    return port


def _check_port_free(host: str, port: int) -> None:
    """Fail with one line when the address is taken (before the server starts)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        _fail(f"cannot resolve --host {host!r}: {exc.strerror}")
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    _fail(f"cannot listen on {host}:{port}: the address is already in use")
                _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = _Parser(prog="durable-effect", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {durable_effect.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve rooms over WebSockets and HTTP",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Serve rooms over WebSockets and HTTP. Each option's environment variable is named in its help.",
    )
    serve.add_argument("target", help="MODULE:ATTR, a SocketConfig or a (storage) -> SocketServer function")
    serve.add_argument("--host", default=_env("host", "127.0.0.1"), help="address to listen on; $DURABLE_EFFECT_HOST")
    serve.add_argument(
        "--port", type=_port, default=_env("port", "8787"), help="port to listen on; $DURABLE_EFFECT_PORT or $PORT"
    )
    serve.add_argument(
        "--db", default=_env("db", None), help="SQLite file for state and alarms (none: in memory); $DURABLE_EFFECT_DB"
    )
    serve.add_argument(
        "--log-level", default=_env("log_level", "info"), choices=LOG_LEVELS, help="$DURABLE_EFFECT_LOG_LEVEL"
    )
    serve.add_argument(
        "--debug",
        action="store_true",
        help="tell clients the message of an unexpected server failure, not only its class",
    )
    serve.add_argument(
        "--transport",
        choices=["native", "asgi"],
        default=_env("transport", None),
        help="native: asyncio, frames built once; asgi: uvicorn (none: the server's own, native by default);"
        " $DURABLE_EFFECT_TRANSPORT",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        metavar="ORIGIN",
        help="accept WebSocket upgrades from pages of ORIGIN (e.g. https://app.example, or *), besides the"
        " server's own; repeatable; adds to the server's allowed_origins; $DURABLE_EFFECT_ALLOWED_ORIGINS",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="let pages of ORIGIN (or *) call /api and /task (CORS); repeatable; adds to the server's"
        " cors_origins; $DURABLE_EFFECT_CORS_ORIGINS",
    )
    schema = commands.add_parser("schema", help="print the rooms' wire contract (JSON Schema or TypeScript)")
    schema.add_argument("target", help="MODULE:ATTR, a WebSocketRoom, SocketRegistry, SocketConfig or server function")
    schema.add_argument("--typescript", action="store_true", help="print a .d.ts instead of JSON Schema")
    args = parser.parse_args(argv)
    if args.command == "schema":
        print_schema(args.target, args.typescript)
        return
    # Defaults from the environment are not checked by argparse: check them as options are.
    if args.log_level not in LOG_LEVELS:
        parser.error(f"argument --log-level: invalid choice: {args.log_level!r} (choose from {', '.join(LOG_LEVELS)})")
    if args.transport not in (None, "native", "asgi"):
        parser.error(f"argument --transport: invalid choice: {args.transport!r} (choose from native, asgi)")

    _check_port_free(args.host, args.port)
    app = load_server(args.target, args.db)
    app.debug = app.debug or args.debug
    app.allowed_origins |= _origins("allow_origin", args.allow_origin)
    app.cors_origins |= _origins("cors_origin", args.cors_origin)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    app.run(args.host, args.port, transport=args.transport, log_level=args.log_level)


if __name__ == "__main__":
    main()
