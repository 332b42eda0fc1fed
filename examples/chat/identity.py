"""Who is connecting: a signed, expiring token names the user.

`POST /login` (see server.py) gives the page a token for a name; the upgrade
hook verifies it and takes the connection's id from it, never from the query.
Only the standard library is used (HMAC-SHA256), so a Worker can verify the
same tokens before it forwards an upgrade. The secret comes from
`CHAT_SECRET`; without it each process draws its own, and its tokens die
with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass

SECRET_ENV = "CHAT_SECRET"
SECRET: bytes = os.environ[SECRET_ENV].encode() if os.environ.get(SECRET_ENV) else secrets.token_bytes(32)
TOKEN_TTL = 12 * 3600.0
"""Seconds a token stays good: a page that reconnects later logs in again."""
MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a token was not accepted, with the HTTP status to refuse with."""

    status: int
    reason: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(payload: str, secret: bytes) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def sign(user_id: str, *, secret: bytes = SECRET, expires_at: float | None = None) -> str:
    """A token naming `user_id`, good until `expires_at` (default: `TOKEN_TTL` from now)."""
    exp = time.time() + TOKEN_TTL if expires_at is None else expires_at
    payload = _b64(json.dumps({"sub": user_id, "exp": exp}, separators=(",", ":")).encode())
    return f"{payload}.{_mac(payload, secret)}"


def verify(token: str | None, *, secret: bytes = SECRET) -> str | Invalid:
    """The user id a token names, or why it is refused: 401 missing or expired, 403 forged."""
    if not token:
        return Invalid(401, "a token is required: POST /login")
    payload, _, mac = token.partition(".")
    if not hmac.compare_digest(mac.encode(), _mac(payload, secret).encode()):
        return Invalid(403, "the token is not signed by this server")
    claims = json.loads(_unb64(payload))  # signed by us: well formed
    if float(claims["exp"]) <= time.time():
        return Invalid(401, "the token has expired: log in again")
    return str(claims["sub"])


def check_name(name: object) -> str | Invalid:
    """A name one may log in as: 1 to 64 characters, spaces trimmed."""
    if not isinstance(name, str) or not name.strip():
        return Invalid(400, "name is required")
    if len(name.strip()) > MAX_NAME:
        return Invalid(400, f"name is at most {MAX_NAME} characters")
    return name.strip()
