"""The Worker with FastAPI for the REST routes:

    POST /api/chat/{id}/say          {"text": …}
    GET  /api/chat/{id}/state        the room state, or null
    GET  /api/chat/{id}/connections  [{"id", "tags", "state"}, …]  (?tag= to filter)

With an `API_TOKEN` secret every route asks for `Authorization: Bearer …`.

The WebSocket upgrade (`GET /ws/chat/{id}?userId=…`, or `?token=…`: see
rooms.py) is routed to the room's Durable Object here, in `fetch`, before
FastAPI sees the request: the Workers
ASGI adapter answers a WebSocket with a socket pair of its own in this
stateless Worker, and drops the `webSocket` of a 101 response an app returns,
so the Durable Object's socket would never reach the client through it.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel
from workers import Request as WorkerRequest
from workers import WorkerEntrypoint, asgi

from chat.registry import Chat, ChatState, Say
from durable_effect.effect import run_promise
from durable_effect.sockets import SocketClientService
from rooms import API_TOKEN_REQUIRED, api_allowed, socket_group, upgrade_chat

# The runtime exports the class under its own name (class_name="ChatDO") and finds
# it by that name here: wrangler.jsonc binds class_name "ChatDO" as CHAT_DO.
ChatDO = socket_group.DO


async def authorized(request: Request) -> None:
    """With an `API_TOKEN` secret, the request must carry it as a bearer token (async:
    Pyodide has no threads for FastAPI to run a plain function in)."""
    if not api_allowed(request.scope["env"], request.headers.get("authorization")):
        raise HTTPException(401, API_TOKEN_REQUIRED)


app = FastAPI(dependencies=[Depends(authorized)])


def rooms(request: Request) -> SocketClientService:
    return socket_group.client(request.scope["env"].CHAT_DO)


class SayBody(BaseModel):
    text: str


class Ok(BaseModel):
    status: str = "ok"


class ConnectionOut(BaseModel):
    id: str
    tags: list[str]
    state: dict[str, object]


@app.post("/api/chat/{room_id}/say")
async def say(room_id: str, body: SayBody, request: Request) -> Ok:
    await run_promise(rooms(request).room(Chat).send(room_id, Say(text=body.text)))
    return Ok()


@app.get("/api/chat/{room_id}/state")
async def state(room_id: str, request: Request) -> ChatState | None:
    return await run_promise(rooms(request).room(Chat).get_state(room_id))


@app.get("/api/chat/{room_id}/connections")
async def connections(room_id: str, request: Request, tag: str | None = None) -> list[ConnectionOut]:
    infos = await run_promise(rooms(request).room(Chat).get_connections(room_id, tag))
    return [
        ConnectionOut(id=i.id, tags=list(i.tags), state=i.state.model_dump(mode="json", by_alias=True)) for i in infos
    ]


class Default(WorkerEntrypoint):
    async def fetch(self, request: WorkerRequest) -> object:
        upgraded = await upgrade_chat(request, self.env)  # before FastAPI: see the module doc
        if upgraded is not None:
            return upgraded
        return await asgi.fetch(app, request, self.env)
