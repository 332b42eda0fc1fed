"""Configuration: typed values read through the `ConfigProvider` service.

`Config.int("PORT")` is an `Effect[int, ConfigError]`: running it reads
`PORT` from the `ConfigProvider` in scope (the process environment unless
one is provided), and fails with a `ConfigError` naming the key when the
value is missing or cannot be read as the declared type.

    port = yield from Config.int("PORT").with_default(8080)
    host = yield from Config.string("HOST").nested("SERVER")   # SERVER_HOST
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Never, TypeVar

from durable_effect.effect._core import OP_SUSPEND, SERVICES, Effect, TaggedError, _Fail, _FlatMap, _Succeed
from durable_effect.effect.cause import Fail
from durable_effect.effect.duration import Duration
from durable_effect.effect.layer import Service

A = TypeVar("A", covariant=True)
B = TypeVar("B")
L = TypeVar("L", bound=str)

__all__ = ["Config", "ConfigError", "ConfigProvider", "Secret"]

Path = tuple[str, ...]


class ConfigError(TaggedError):
    """A config value is missing (`reason="missing"`) or cannot be read as
    its type (`reason="invalid"`); `key` is the full key, prefixes included."""

    key: str
    reason: Literal["missing", "invalid"]
    message: str


class ConfigProvider(Service):
    """Where config values come from: `ConfigProvider.from_env()` (the
    default), `ConfigProvider.from_mapping({...})` (e.g. in tests) or
    `ConfigProvider.from_object(env)` (a Worker's `env`). A nested key's parts
    are joined with `separator`."""

    __slots__ = ("_lookup", "separator")

    def __init__(self, lookup: Callable[[str], str | None], separator: str = "_") -> None:
        self._lookup = lookup
        self.separator = separator

    @staticmethod
    def from_env(environ: Mapping[str, str] | None = None, separator: str = "_") -> ConfigProvider:
        """Read the process environment (read at each lookup), or `environ`."""
        source = os.environ if environ is None else environ
        return ConfigProvider(source.get, separator)

    @staticmethod
    def from_mapping(data: Mapping[str, object], separator: str = "_") -> ConfigProvider:
        """Read a mapping; non-string values are turned into strings."""

        def lookup(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else _text(value)

        return ConfigProvider(lookup, separator)

    @staticmethod
    def from_object(source: object, separator: str = "_") -> ConfigProvider:
        """Read the attributes of `source`, such as a Cloudflare Worker's `env`
        (`env.SHOP_WEBHOOK_URL`); non-string values are turned into strings."""

        def lookup(key: str) -> str | None:
            value = getattr(source, key, None)
            return None if value is None else _text(value)

        return ConfigProvider(lookup, separator)

    def key(self, path: Path) -> str:
        """The full key of `path`."""
        return self.separator.join(path)

    def load(self, path: Path) -> str | None:
        """The raw value at `path`, or `None` when it is not set."""
        return self._lookup(self.key(path))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_ENV = ConfigProvider.from_env()


class Secret:
    """A config value that never shows in `repr`/`str` (logs, tracebacks);
    read it with `.value`."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.value == self.value

    def __hash__(self) -> int:
        return hash((Secret, self.value))


# load(provider, prefix) -> value; raises ConfigError
_Load = Callable[[ConfigProvider, Path], Any]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class Config(Effect[A, ConfigError, Never]):
    """A typed config value; as an effect, reading it gives `A` or fails with `ConfigError`."""

    __slots__ = ("_load",)
    _op: ClassVar[int] = OP_SUSPEND

    def __init__(self, load: _Load) -> None:
        self._load = load

    if not TYPE_CHECKING:

        @property
        def thunk(self):
            # The interpreter runs an OP_SUSPEND node by calling `thunk()`.
            return self._effect

    def _effect(self) -> Effect[A, ConfigError]:
        def run(services: Mapping[type, object]) -> Effect[A, ConfigError]:
            provider = services.get(ConfigProvider)
            try:
                value: A = self._load(provider if isinstance(provider, ConfigProvider) else _ENV, ())
            except ConfigError as err:
                return _Fail(Fail(err))
            return _Succeed(value)

        return _FlatMap(SERVICES, run)

    # -- primitives -------------------------------------------------------------------------

    @staticmethod
    def string(name: str) -> Config[str]:
        """A string."""
        return Config(_primitive(name, "a string", str))

    @staticmethod
    def int(name: str) -> Config[int]:
        """An integer (`"8080"`)."""
        return Config(_primitive(name, "an integer", _parse_int))

    @staticmethod
    def float(name: str) -> Config[float]:
        """A number (`"0.25"`)."""
        return Config(_primitive(name, "a number", _parse_float))

    @staticmethod
    def bool(name: str) -> Config[bool]:
        """A boolean: true/false, yes/no, on/off, 1/0 (any case)."""
        return Config(_primitive(name, "a boolean (true/false)", _parse_bool))

    @staticmethod
    def duration(name: str) -> Config[Duration]:
        """A duration: `"30 seconds"`, `"5 minutes"`, or milliseconds (`"250"`)."""
        return Config(_primitive(name, 'a duration ("30 seconds")', _parse_duration))

    @staticmethod
    def secret(name: str) -> Config[Secret]:
        """A string kept out of `repr`, logs and tracebacks."""
        return Config(_primitive(name, "a string", Secret))

    @staticmethod
    def literal(name: str, *values: L) -> Config[L]:
        """One of `values`, exactly."""
        allowed = ", ".join(repr(v) for v in values)

        def parse(raw: str) -> L:
            for v in values:
                if raw == v:
                    return v
            raise ValueError(raw)

        return Config(_primitive(name, f"one of {allowed}", parse))

    # -- combinators ------------------------------------------------------------------------

    def with_default(self, default: B) -> Config[A | B]:
        """`default` when the value is missing (an invalid value still fails)."""
        load = self._load

        def with_it(provider: ConfigProvider, prefix: Path) -> Any:
            try:
                return load(provider, prefix)
            except ConfigError as err:
                if err.reason == "missing":
                    return default
                raise

        return Config(with_it)

    def optional(self) -> Config[A | None]:
        """`None` when the value is missing (an invalid value still fails)."""
        return self.with_default(None)

    def map(self, f: Callable[[A], B]) -> Config[B]:
        """Transform the value."""
        load = self._load
        return Config(lambda provider, prefix: f(load(provider, prefix)))

    def nested(self, prefix: str) -> Config[A]:
        """Read the value under `prefix`: `Config.int("PORT").nested("SERVER")`
        reads `SERVER_PORT` from the environment."""
        load = self._load
        return Config(lambda provider, outer: load(provider, (*outer, prefix)))

    def __repr__(self) -> str:
        return "Config(...)"


def _primitive(name: str, expected: str, parse: Callable[[str], Any]) -> _Load:
    def load(provider: ConfigProvider, prefix: Path) -> Any:
        path = (*prefix, name)
        raw = provider.load(path)
        key = provider.key(path)
        if raw is None:
            raise ConfigError(key, "missing", f"{key} is not set")
        try:
            return parse(raw)
        except ValueError:
            raise ConfigError(key, "invalid", f"{key} should be {expected}, got {raw!r}") from None

    return load


def _parse_int(raw: str) -> int:
    return int(raw.strip())


def _parse_float(raw: str) -> float:
    return float(raw.strip())


def _parse_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(raw)


def _parse_duration(raw: str) -> Duration:
    text = raw.strip()
    try:
        return Duration.decode(float(text))
    except ValueError:
        return Duration.decode(text)
