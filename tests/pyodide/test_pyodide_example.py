"""examples/cloudflare-chat's plain fetch entry (`src/entry.py`), as wrangler would
load it, inside Pyodide: its WebSocket route and its `POST /api/chat/{id}/say`."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

import json5
import pytest

from .node_harness import ROOT, HarnessError, NodeHarness

WORKER = "https://chat.example"
WRANGLER: dict[str, Any] = json5.loads((ROOT / "examples" / "cloudflare-chat" / "wrangler.jsonc").read_text())
BINDINGS = WRANGLER["durable_objects"]["bindings"]


@pytest.fixture(scope="module")
def entry(harness: NodeHarness) -> NodeHarness:
    # The Worker's src/ is its root on sys.path (src/chat is examples/chat); its
    # main module and bindings are wrangler.jsonc's, each class found by its name.
    harness.py("import sys\nsys.path.insert(0, '/home/pyodide/src/cloudflare-chat')\n'null'")
    main = PurePosixPath(WRANGLER["main"])
    assert main.parent.name == "src"
    exported = harness.call("main", module=main.stem, bindings=BINDINGS)
    assert exported["durableObjects"] == ["ChatDO"]
    return harness


def test_a_class_not_exported_under_its_binding_s_name_is_not_found(harness: NodeHarness) -> None:
    # The wiring the runtime cannot resolve: the attribute is ChatDO, the class is
    # named otherwise, so it is exported under that other name.
    harness.py(
        "import pathlib\n"
        "pathlib.Path('/home/pyodide/src/misnamed.py').write_text(\n"
        "    'from examples.chat.handlers import config\\n'\n"
        "    'from durable_effect.sockets.cloudflare import make_socket_group_do\\n'\n"
        "    'from workers import WorkerEntrypoint\\n'\n"
        "    'ChatDO = make_socket_group_do(config, class_name=\"SocketGroupDO\", binding=\"CHAT_DO\").DO\\n'\n"
        "    'class Default(WorkerEntrypoint):\\n'\n"
        "    '    pass\\n'\n"
        ")\n'null'"
    )
    with pytest.raises(HarnessError, match='referenced the class "ChatDO", but no such Durable Object class'):
        harness.call("main", module="misnamed", bindings=BINDINGS)


def test_the_example_worker_serves_the_chat(entry: NodeHarness) -> None:
    h = entry
    clients: dict[str, int] = {}
    for name in ["ann", "ben", "cy"]:
        answer = h.call("request", url=f"{WORKER}/ws/chat/main?userId={name}", websocket=True)
        assert answer["status"] == 101, answer
        clients[name] = answer["client"]
    assert h.messages(clients["ann"]) == [{"_tag": "UserJoined", "userId": n} for n in ["ben", "cy"]]
    assert h.messages(clients["ben"]) == [{"_tag": "UserJoined", "userId": "cy"}]
    assert h.messages(clients["cy"]) == []

    h.send_json(clients["ben"], {"_tag": "Say", "text": "hi"})
    for name, c in clients.items():
        assert [(m["_tag"], m["text"], m["userId"]) for m in h.messages(c)] == [("Message", "hi", "ben")], name

    answer = h.call("request", url=f"{WORKER}/api/chat/main/say", method="POST", body=json.dumps({"text": "notice"}))
    assert (answer["status"], json.loads(answer["body"])) == (200, {"status": "ok"})
    for body in ["{not json", json.dumps({"text": 1})]:  # refused with a JSON error, not a crash
        answer = h.call("request", url=f"{WORKER}/api/chat/main/say", method="POST", body=body)
        assert (answer["status"], list(json.loads(answer["body"]))) == (400, ["error"]), body
    answer = h.call("request", url=f"{WORKER}/login", method="POST", body=json.dumps({"name": "ann"}))
    assert answer["status"] == 404  # no CHAT_SECRET: no logins
    for name, c in clients.items():
        assert [(m["text"], m["userId"]) for m in h.messages(c)] == [("notice", "system")], name

    h.call("hibernate", binding="CHAT_DO", name="chat:main")
    h.call("close", client=clients["cy"], code=1000, reason="bye")
    for name in ["ann", "ben"]:
        assert h.messages(clients[name]) == [{"_tag": "UserLeft", "userId": "cy"}], name

    assert h.call("request", url=f"{WORKER}/nowhere")["status"] == 404
    plain = h.call("request", url=f"{WORKER}/ws/chat/main?userId=dee")  # no Upgrade header
    assert plain["status"] == 404


def test_the_example_fastapi_worker_routes_the_upgrade_before_fastapi(entry: NodeHarness) -> None:
    h = entry
    h.call("main", module="fastapi_entry", bindings=BINDINGS)  # the other "main" of wrangler.jsonc
    clients: dict[str, int] = {}
    for name in ["fay", "gus"]:
        answer = h.call("request", url=f"{WORKER}/ws/chat/side?userId={name}", websocket=True)
        assert answer["status"] == 101, answer
        clients[name] = answer["client"]
    assert h.messages(clients["fay"]) == [{"_tag": "UserJoined", "userId": "gus"}]

    # The REST routes are FastAPI's, reached through workers.asgi with env in the scope.
    answer = h.call(
        "request",
        url=f"{WORKER}/api/chat/side/say",
        method="POST",
        headers={"content-type": "application/json"},
        body=json.dumps({"text": "from fastapi"}),
    )
    assert (answer["status"], json.loads(answer["body"])) == (200, {"status": "ok"})
    for name, c in clients.items():
        assert [(m["text"], m["userId"]) for m in h.messages(c)] == [("from fastapi", "system")], name

    state = json.loads(h.call("request", url=f"{WORKER}/api/chat/side/state")["body"])
    assert state["messageCount"] == 1
    conns = json.loads(h.call("request", url=f"{WORKER}/api/chat/side/connections?tag=user:gus")["body"])
    assert [(c["id"], c["state"]["userId"]) for c in conns] == [("gus", "gus")]
    bad = h.call("request", url=f"{WORKER}/api/chat/side/say", method="POST", body="{}")
    assert bad["status"] == 422  # FastAPI's validation of the body
