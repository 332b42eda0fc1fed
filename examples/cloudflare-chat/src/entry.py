"""The Worker, with the seed's plain fetch entry:

    GET  /ws/chat/{id}?userId=…   WebSocket upgrade, routed to the room's Durable Object
    POST /api/chat/{id}/say       {"text": …}: a server-initiated Say, through the direct API
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from workers import Request, Response, WorkerEntrypoint

from chat.registry import Say
from durable_effect.effect import run_promise
from rooms import socket_group, upgrade_chat

# The runtime exports the class under its own name (class_name="ChatDO") and finds
# it by that name here: wrangler.jsonc binds class_name "ChatDO" as CHAT_DO.
ChatDO = socket_group.DO

SAY_ROUTE = re.compile(r"^/api/chat/([^/]+)/say$")


class Default(WorkerEntrypoint):
    async def fetch(self, request: Request) -> object:
        upgraded = await upgrade_chat(request, self.env)
        if upgraded is not None:
            return upgraded
        say = SAY_ROUTE.match(urlsplit(request.url).path)
        if say is not None and request.method == "POST":
            body = await request.json()
            rooms = socket_group.client(self.env.CHAT_DO)
            await run_promise(rooms.room("chat").send(unquote(say.group(1)), Say(text=str(body["text"]))))
            return Response.json({"status": "ok"})
        return Response("not found", status=404)
