"""The Worker the Pyodide test deploys into its harness: the chat example's rooms
and the contract suite's Lab room as Durable Objects, behind a fetch entry like
the seed's.

    GET  /ws/chat/{id}?userId=NAME&at=MS   WebSocket upgrade (id NAME, tag user:NAME)
    GET  /ws/lab/{id}?name=NAME&dup=POLICY WebSocket upgrade into Lab (on_duplicate POLICY)
    POST /api/chat/{id}/say                {"text": ...}, said by the server ("system")
    POST /api/{room}/{id}/send             an event (JSON), through the direct API
    GET  /api/{room}/{id}/state            the room state
    GET  /api/{room}/{id}/connections      ?tag= filters

Only imported inside Pyodide, where the harness provides `workers` and `js`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from workers import Response, WorkerEntrypoint

from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, SocketClientService, UpgradeError, UpgradeOpts
from durable_effect.sockets.api import OnDuplicate
from durable_effect.sockets.cloudflare import make_socket_group_do
from examples.chat.handlers import config as chat_config
from examples.chat.registry import Chat, ChatConnection, Say
from tests.sockets.rooms import Lab, LabConn, Probe, lab_config

# Lab's on_alarm fails while `alarm_failures_left` > 0 and records what it saw in `probe`.
probe = Probe(alarm_failures_left=1)

chat_group = make_socket_group_do(chat_config, class_name="ChatDO", binding="CHAT")
lab_group = make_socket_group_do(lab_config(probe), class_name="LabDO", binding="LAB")
ChatDO = chat_group.DO
LabDO = lab_group.DO
GROUPS = {"chat": chat_group, "lab": lab_group, "ledger": lab_group}
DUPLICATE_POLICIES: dict[str, OnDuplicate] = {"allow": "allow", "replace": "replace", "reject": "reject"}


def _json(status: int, value: object) -> Response:
    return Response(json.dumps(value), status=status, headers={"content-type": "application/json"})


class Default(WorkerEntrypoint):
    """The Worker's fetch entry: routes upgrades and the REST calls to the rooms."""

    def _client(self, room: str) -> SocketClientService:
        group = GROUPS[room]
        return group.client(getattr(self.env, group.binding))

    async def fetch(self, request: Any) -> Any:
        url = urlsplit(str(request.url))
        query = parse_qs(url.query)
        match [p for p in url.path.split("/") if p]:
            case ["ws", "chat", room_id]:
                user_id = query.get("userId", ["anon"])[0]
                opts = UpgradeOpts(
                    ConnectionInit(
                        id=user_id,
                        tags=[f"user:{user_id}"],
                        initial_state=ChatConnection(user_id=user_id, joined_at=float(query.get("at", ["0"])[0])),
                    )
                )
                return await run_promise(self._client("chat").room(Chat).upgrade(room_id, request, opts))
            case ["ws", "lab", room_id]:
                name = query.get("name", ["anon"])[0]
                dup = DUPLICATE_POLICIES[query.get("dup", ["allow"])[0]]
                lab_opts = UpgradeOpts(ConnectionInit(LabConn(name=name), id=name), on_duplicate=dup)
                try:
                    return await run_promise(self._client("lab").room(Lab).upgrade(room_id, request, lab_opts))
                except UpgradeError as err:
                    return Response(err.message, status=err.status)
            case ["api", "chat", room_id, "say"]:
                body = json.loads(await request.text())
                await run_promise(self._client("chat").room(Chat).send(room_id, Say(text=str(body["text"]))))
                return _json(200, {"status": "ok"})
            case ["api", room, room_id, "send"]:
                event = GROUPS[room].config.room(room).event.validate(json.loads(await request.text()))
                await run_promise(self._client(room).room(room).send(room_id, event))
                return _json(200, {"status": "ok"})
            case ["api", room, room_id, "state"]:
                state = await run_promise(self._client(room).room(room).get_state(room_id))
                return _json(200, None if state is None else state.model_dump(mode="json", by_alias=True))
            case ["api", room, room_id, "connections"]:
                tag = query.get("tag", [None])[0]
                infos = await run_promise(self._client(room).room(room).get_connections(room_id, tag))
                return _json(200, [info.to_dict() for info in infos])
        return _json(404, {"error": "no route"})
