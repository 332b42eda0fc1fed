"""Platform services shared by every durable-effect package (rooms, tasks).

`Storage` and `Alarm` are bound to the current instance while a handler
runs; `CloudflareEnv` holds a Worker's bindings on Cloudflare.
"""

from __future__ import annotations

from abc import abstractmethod

from durable_effect.effect import Effect, Service

__all__ = ["Alarm", "CloudflareEnv", "Storage"]


class Storage(Service):
    """Key-value storage of the current instance (values are JSON text)."""

    __slots__ = ()

    @abstractmethod
    def get(self, key: str) -> Effect[str | None]: ...

    @abstractmethod
    def put(self, key: str, value: str) -> Effect[None]: ...

    @abstractmethod
    def delete(self, key: str) -> Effect[None]: ...


class Alarm(Service):
    """The one alarm of the current instance, in epoch milliseconds."""

    __slots__ = ()

    @abstractmethod
    def get(self) -> Effect[float | None]: ...

    @abstractmethod
    def set(self, at_ms: float) -> Effect[None]: ...

    @abstractmethod
    def delete(self) -> Effect[None]: ...


class CloudflareEnv(Service):
    """A Worker's `env` bindings (provided by the Cloudflare host)."""

    __slots__ = ("env",)

    def __init__(self, env: object) -> None:
        self.env = env
