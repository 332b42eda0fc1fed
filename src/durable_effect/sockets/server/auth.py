"""Who may use the server: the direct API's guard and the upgrades' origin check.

The direct API (`/api/...`, `/task/...`) changes and reads any instance's
state, so it is closed by default: with neither an `authorize` hook nor an
API token, only loopback peers are answered. A token (`api_token=`, or the
`DURABLE_EFFECT_API_TOKEN` environment variable) admits requests that carry
`Authorization: Bearer <token>`; the hook decides everything else.
"""

from __future__ import annotations

import hmac
import inspect
import ipaddress
import os
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias
from urllib.parse import urlsplit

__all__ = [
    "API_TOKEN_ENV",
    "Allow",
    "ApiGuard",
    "ApiRequest",
    "AuthorizeHook",
    "Refuse",
    "cross_origin",
    "is_loopback",
]

API_TOKEN_ENV = "DURABLE_EFFECT_API_TOKEN"
"""The environment variable the API token is read from when `api_token=` is not given."""


@dataclass(frozen=True, slots=True)
class Refuse:
    """Returned by a hook (`upgrade_options`, `authorize`) to refuse a request with an HTTP status."""

    status: int = 403
    reason: str = "forbidden"


@dataclass(frozen=True, slots=True)
class Allow:
    """Returned by `authorize` to let a direct-API request through."""


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """What the `authorize` hook sees of a direct-API request.

    `route` is `"api"` (`/api/{room}/{id}/{action}`), `"task"`
    (`/task/{name}/{id}/{action}`, the task's name in `room`) or `"metrics"`
    (`/metrics`, with empty `room` and `id`); `peer` is the
    client's address (`None` when the transport does not know it)."""

    route: Literal["api", "task", "metrics"]
    method: str
    room: str
    id: str
    action: str
    headers: Mapping[str, str]
    peer: str | None

    @property
    def bearer(self) -> str | None:
        """The token of an `Authorization: Bearer <token>` header, if any."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None


AuthorizeDecision: TypeAlias = "Allow | Refuse"
AuthorizeHook: TypeAlias = Callable[[ApiRequest], "AuthorizeDecision | Awaitable[AuthorizeDecision]"]
"""Decides a direct-API request: `Allow()` or `Refuse(status, reason)`; plain or async."""


def is_loopback(peer: str | None) -> bool:
    """Whether `peer` is a loopback address (127.0.0.0/8, ::1) or a Unix socket (no address)."""
    if peer is None or peer == "":
        return False
    try:
        return ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class ApiGuard:
    """Decides every direct-API request: a valid bearer token, else the hook,
    else (with neither a hook nor a token) only trusted (loopback) peers."""

    def __init__(
        self,
        authorize: AuthorizeHook | None,
        api_token: str | None,
        trusted_peer: Callable[[str | None], bool] = is_loopback,
    ) -> None:
        self.authorize = authorize
        self.api_token = api_token if api_token is not None else (os.environ.get(API_TOKEN_ENV) or None)
        self.trusted_peer = trusted_peer

    def describe(self) -> str:
        """One phrase for the start-up log: who the direct API answers."""
        if self.authorize is not None and self.api_token is not None:
            return "the direct API (/api, /task) answers the bearer token and what the authorize hook allows"
        if self.authorize is not None:
            return "the direct API (/api, /task) answers what the authorize hook allows"
        if self.api_token is not None:
            return "the direct API (/api, /task) answers requests with the bearer token"
        return (
            "the direct API (/api, /task) answers only loopback peers:"
            f" set authorize= or api_token= (or {API_TOKEN_ENV}) to open it"
        )

    async def check(self, request: ApiRequest) -> Refuse | None:
        """`None` to let the request through, or how to refuse it."""
        token = request.bearer
        if self.api_token is not None and token is not None and hmac.compare_digest(token, self.api_token):
            return None
        if self.authorize is not None:
            decided = self.authorize(request)
            if inspect.isawaitable(decided):
                decided = await decided
            if isinstance(decided, Allow):
                return None
            if isinstance(decided, Refuse):
                return decided
            raise TypeError(f"authorize must return Allow or Refuse, got {decided!r}")
        if self.api_token is not None:
            return Refuse(401, "a valid bearer token is required")
        if self.trusted_peer(request.peer):
            return None
        return Refuse(403, "the direct API answers only loopback peers unless authorize= or api_token= is set")


def cross_origin(headers: Mapping[str, str], allowed: Collection[str]) -> str | None:
    """The request's `Origin` when it is another site's and not in `allowed`
    (`"*"` allows every origin); `None` when the upgrade may go on. A request
    without `Origin` (not from a browser) and a same-origin one (the origin's
    host and port are the `Host` header) pass."""
    origin = headers.get("origin")
    if origin is None or "*" in allowed or origin in allowed:
        return None
    if urlsplit(origin).netloc.lower() == headers.get("host", "").lower():
        return None
    return origin
