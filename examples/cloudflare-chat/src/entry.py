"""The Worker, with the seed's plain fetch entry:

    GET  /ws/chat/{id}?userId=…   WebSocket upgrade, routed to the room's Durable Object
                                  (?token=… when the Worker has a CHAT_SECRET: see rooms.py)
    POST /login                   {"name": …}: {"userId", "token"} (with a CHAT_SECRET)
    POST /api/chat/{id}/say       {"text": …}: a server-initiated Say, through the direct API
                                  (with an API_TOKEN secret: only with `Authorization: Bearer …`)

A request the Worker cannot take is answered 4xx with `{"error": …}`, never a crash.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote, urlsplit

from workers import Request, Response, WorkerEntrypoint

from chat import identity
from chat.registry import Say
from durable_effect.effect import run_promise
from rooms import API_TOKEN_REQUIRED, api_allowed, secret, socket_group, upgrade_chat

# The runtime exports the class under its own name (class_name="ChatDO") and finds
# it by that name here: wrangler.jsonc binds class_name "ChatDO" as CHAT_DO.
ChatDO = socket_group.DO

SAY_ROUTE = re.compile(r"^/api/chat/([^/]+)/say$")
MAX_BODY = 16 * 1024


def error(status: int, message: str) -> Response:
    return Response.json({"error": message}, status=status)


async def json_body(request: Request) -> object:
    """The request's JSON body; None when it is not JSON (or too large)."""
    text = await request.text()
    if len(text) > MAX_BODY:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class Default(WorkerEntrypoint):
    async def fetch(self, request: Request) -> object:
        upgraded = await upgrade_chat(request, self.env)
        if upgraded is not None:
            return upgraded
        path = urlsplit(request.url).path
        if path == "/login" and request.method == "POST":
            return await self.login(request)
        say = SAY_ROUTE.match(path)
        if say is not None and request.method == "POST":
            return await self.say(request, unquote(say.group(1)))
        return Response("not found", status=404)

    async def login(self, request: Request) -> Response:
        key = secret(self.env)
        if key is None:
            return error(404, "no logins without a CHAT_SECRET: connect with ?userId=")
        body = await json_body(request)
        name = identity.check_name(body.get("name") if isinstance(body, dict) else None)
        if isinstance(name, identity.Invalid):
            return error(name.status, name.reason)
        return Response.json({"userId": name, "token": identity.sign(name, secret=key)})

    async def say(self, request: Request, room_id: str) -> Response:
        if not api_allowed(self.env, request.headers.get("authorization")):
            return error(401, API_TOKEN_REQUIRED)
        body = await json_body(request)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            return error(400, 'the body must be JSON: {"text": "..."}')
        rooms = socket_group.client(self.env.CHAT_DO)
        await run_promise(rooms.room("chat").send(room_id, Say(text=text)))
        return Response.json({"status": "ok"})
