"""The seed's chat story on the Cloudflare host, inside Pyodide (CPython 3.14 on wasm).

`harness.mjs` plays the Durable Object runtime under Node; the Worker of
`worker_app.py` routes upgrades and REST calls to the chat example's rooms,
each instance a Durable Object of the adapter's class. Five clients talk over
JS WebSocket pairs: tags reach `acceptWebSocket` as JS arrays, attachments and
storage values must be structured-cloneable, binary frames arrive as
ArrayBuffers, and every storage call is an awaited JS promise.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .node_harness import HarnessError, NodeHarness

NAMES = ["alice", "bob", "carol", "dave", "eve"]
WORKER = "https://chat.example"
LOBBY = "chat:lobby"


@pytest.fixture(scope="module")
def worker(harness: NodeHarness) -> NodeHarness:
    harness.py("import worker_app\n'null'")
    # Two socket groups in one Worker, each class found by its own name.
    bindings = [{"name": "CHAT", "class_name": "ChatDO"}, {"name": "LAB", "class_name": "LabDO"}]
    exported = harness.call("main", module="worker_app", bindings=bindings)
    assert sorted(exported["durableObjects"]) == ["ChatDO", "LabDO"]
    return harness


def get(h: NodeHarness, path: str) -> Any:
    answer = h.call("request", url=f"{WORKER}{path}")
    assert answer["status"] == 200, answer
    return json.loads(answer["body"])


def join(h: NodeHarness, name: str, at: int) -> int:
    answer = h.call("request", url=f"{WORKER}/ws/chat/lobby?userId={name}&at={at}", websocket=True)
    assert answer["status"] == 101, answer
    assert f"user:{name}" in answer["tags"]
    client: int = answer["client"]
    return client


def say(text: str, user_id: str) -> tuple[str, str, str]:
    return ("Message", text, user_id)


def said(messages: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(m["_tag"], m.get("text", ""), m["userId"]) for m in messages]


def test_five_clients_chat_through_the_durable_object(worker: NodeHarness) -> None:
    h = worker
    assert get(h, "/api/chat/lobby/state") is None

    # -- five joins: each earlier client hears the newcomer, the newcomer hears nothing ----
    clients: dict[str, int] = {}
    for k, name in enumerate(NAMES):
        clients[name] = join(h, name, k * 60_000)
        for earlier in NAMES[:k]:
            assert h.messages(clients[earlier]) == [{"_tag": "UserJoined", "userId": name}], earlier
    assert all(h.messages(c) == [] for c in clients.values())
    state = get(h, "/api/chat/lobby/state")
    assert state["messageCount"] == 0
    assert state["createdAt"] > 1_600_000_000_000  # on_connect read the clock: epoch milliseconds

    # -- Say fans out to all five, in the order said ------------------------------------------
    h.send_json(clients["alice"], {"_tag": "Say", "text": "hello"})
    h.send_json(clients["bob"], {"_tag": "Say", "text": "hi alice"})
    for name, c in clients.items():
        got = h.messages(c)
        assert said(got) == [say("hello", "alice"), say("hi alice", "bob")], name
        assert got[1]["ts"] >= got[0]["ts"]

    # -- frames that arrive while the previous one is still being handled keep their order ---
    h.call("burst", client=clients["carol"], texts=[json.dumps({"_tag": "Say", "text": t}) for t in ["1", "2", "3"]])
    for name, c in clients.items():
        assert said(h.messages(c)) == [say("1", "carol"), say("2", "carol"), say("3", "carol")], name

    # -- Typing reaches everyone but the sender ------------------------------------------------
    h.send_json(clients["carol"], {"_tag": "Typing"})
    assert h.messages(clients["carol"]) == []
    for name in ["alice", "bob", "dave", "eve"]:
        assert h.messages(clients[name]) == [{"_tag": "Typing", "userId": "carol"}], name

    # -- a binary frame (an ArrayBuffer in JS) is decoded like a text one -------------------
    h.send_bytes(clients["dave"], json.dumps({"_tag": "Say", "text": "in binary"}).encode())
    for name, c in clients.items():
        assert said(h.messages(c)) == [say("in binary", "dave")], name

    # -- a bad frame is dropped: nobody hears it, the socket stays open ------------------------
    h.send_text(clients["dave"], "not json at all")
    h.send_bytes(clients["dave"], b"\xff\xfe")
    assert all(h.messages(c) == [] for c in clients.values())

    # -- the server speaks through the namespace (POST /api/chat/lobby/say) ------------------
    answer = h.call(
        "request", url=f"{WORKER}/api/chat/lobby/say", method="POST", body=json.dumps({"text": "maintenance"})
    )
    assert (answer["status"], json.loads(answer["body"])) == (200, {"status": "ok"})
    for name, c in clients.items():
        assert said(h.messages(c)) == [say("maintenance", "system")], name
    assert get(h, "/api/chat/lobby/state")["messageCount"] == 7

    # -- connections, and by tag -------------------------------------------------------------
    conns = get(h, "/api/chat/lobby/connections")
    assert sorted(c["id"] for c in conns) == NAMES
    carol = get(h, "/api/chat/lobby/connections?tag=user:carol")
    assert [(c["id"], c["state"]) for c in carol] == [("carol", {"userId": "carol", "joinedAt": 120_000.0})]
    assert "user:carol" in carol[0]["tags"]
    assert get(h, "/api/chat/lobby/connections?tag=user:mallory") == []

    # -- hibernation: a new Python instance over the same sockets and storage ----------------
    before = h.call("inspect", binding="CHAT", name=LOBBY)
    assert before["constructed"] == 1
    h.call("hibernate", binding="CHAT", name=LOBBY)
    h.send_json(clients["eve"], {"_tag": "Say", "text": "after the nap"})
    for name, c in clients.items():
        assert said(h.messages(c)) == [say("after the nap", "eve")], name  # ctx.connection is eve
    h.send_json(clients["bob"], {"_tag": "Typing"})
    assert h.messages(clients["bob"]) == []
    assert all(h.messages(clients[n]) == [{"_tag": "Typing", "userId": "bob"}] for n in NAMES if n != "bob")
    after = h.call("inspect", binding="CHAT", name=LOBBY)
    assert after["constructed"] == 2
    assert after["storage"] == before["storage"] | {"state": after["storage"]["state"]}
    assert json.loads(after["storage"]["state"])["messageCount"] == 8

    # -- disconnects: a clean close is answered by the DO; a dropped socket too is noticed -----
    closed = h.call("close", client=clients["eve"], code=1000, reason="bye")
    assert closed["answered"] == {"close": 1000, "reason": "bye"}
    assert closed["readyState"] == 3
    for name in ["alice", "bob", "carol", "dave"]:
        assert h.messages(clients[name]) == [{"_tag": "UserLeft", "userId": "eve"}], name
    h.call("close", client=clients["dave"], clean=False)
    for name in ["alice", "bob", "carol"]:
        assert h.messages(clients[name]) == [{"_tag": "UserLeft", "userId": "dave"}], name
    assert sorted(c["id"] for c in get(h, "/api/chat/lobby/connections")) == ["alice", "bob", "carol"]
    assert get(h, "/api/chat/lobby/connections?tag=user:eve") == []

    # ... and after another nap, a close still reaches on_close with the right connection.
    h.call("hibernate", binding="CHAT", name=LOBBY)
    h.call("close", client=clients["alice"], code=4000, reason="gone")
    for name in ["bob", "carol"]:
        assert h.messages(clients[name]) == [{"_tag": "UserLeft", "userId": "alice"}], name
    h.send_json(clients["carol"], {"_tag": "Say", "text": "still here"})
    for name in ["bob", "carol"]:
        assert said(h.messages(clients[name])) == [say("still here", "carol")], name
    for name in ["alice", "dave", "eve"]:
        assert all("close" in f for f in h.frames(clients[name])), name  # nothing after leaving

    final = h.call("inspect", binding="CHAT", name=LOBBY)
    assert [s["client"] for s in final["sockets"] if s["readyState"] == 1] == [clients["bob"], clients["carol"]]
    assert get(h, "/api/chat/lobby/state")["messageCount"] == 9


def test_each_room_instance_is_its_own_durable_object(worker: NodeHarness) -> None:
    h = worker
    lobby_count = get(h, "/api/chat/lobby/state")["messageCount"]
    answer = h.call("request", url=f"{WORKER}/ws/chat/annex?userId=yan&at=0", websocket=True)
    yan = answer["client"]
    h.send_json(yan, {"_tag": "Say", "text": "annex"})
    assert said(h.messages(yan)) == [say("annex", "yan")]
    assert get(h, "/api/chat/annex/state")["messageCount"] == 1
    assert [c["id"] for c in get(h, "/api/chat/annex/connections")] == ["yan"]
    assert get(h, "/api/chat/lobby/state")["messageCount"] == lobby_count
    annex = h.call("inspect", binding="CHAT", name="chat:annex")
    assert [s["client"] for s in annex["sockets"]] == [yan]

    # A socket error ends the connection like a close: on_close tells the others.
    zoe = h.call("request", url=f"{WORKER}/ws/chat/annex?userId=zoe&at=0", websocket=True)["client"]
    assert h.messages(yan) == [{"_tag": "UserJoined", "userId": "zoe"}]
    h.call("error", client=yan, message="connection reset")
    assert h.messages(zoe) == [{"_tag": "UserLeft", "userId": "yan"}]
    assert [c["id"] for c in get(h, "/api/chat/annex/connections")] == ["zoe"]

    # The Durable Object answers unknown operations itself, with a JSON error.
    answer = h.call("fetch", binding="CHAT", name="chat:annex", url="https://rooms.internal/chat/annex/nope")
    assert answer["status"] == 404
    assert "error" in json.loads(answer["body"])


def test_a_failing_alarm_is_retried_and_the_retry_sees_the_failure(worker: NodeHarness) -> None:
    h = worker
    for event in [{"_tag": "Inc", "by": 1}, {"_tag": "Schedule", "in_ms": 1000}]:
        answer = h.call("request", url=f"{WORKER}/api/lab/t1/send", method="POST", body=json.dumps(event))
        assert answer["status"] == 200, answer
    armed = h.call("inspect", binding="LAB", name="lab:t1")
    assert armed["alarm"] is not None and armed["alarm"] > 1_600_000_000_000

    def runs() -> Any:
        return h.py(
            "import json, worker_app\n"
            "json.dumps([None if r is None else r.retry_count for r in worker_app.probe.alarm_runs])"
        )

    # First attempt: on_alarm fails, so alarm() raises and the runtime keeps the alarm for a retry.
    first = h.call("alarm", binding="LAB", name="lab:t1")
    assert (first["ran"], first["ok"], first["info"]) == (True, False, {"retryCount": 0, "isRetry": False})
    assert first["alarm"] == armed["alarm"]
    assert runs() == [None]
    assert get(h, "/api/lab/t1/state") == {"count": 1}

    # The retry wakes a cold object (no ctx.id.name): it finds its room from storage, and
    # on_alarm sees the system failure with retry count 1, then succeeds.
    h.call("hibernate", binding="LAB", name="lab:t1")
    second = h.call("alarm", binding="LAB", name="lab:t1")
    assert (second["ran"], second["ok"], second["cold"]) == (True, True, True)
    assert second["info"] == {"retryCount": 1, "isRetry": True}
    assert second["alarm"] is None
    assert runs() == [None, 1]
    assert get(h, "/api/lab/t1/state") == {"count": 101}
    assert h.call("alarm", binding="LAB", name="lab:t1") == {"ran": False, "alarm": None}


def test_a_duplicate_connection_id_is_replaced_or_refused(worker: NodeHarness) -> None:
    h = worker

    def connect(dup: str) -> Any:
        return h.call("request", url=f"{WORKER}/ws/lab/dups?name=kim&dup={dup}", websocket=True)

    first = connect("allow")["client"]
    assert h.messages(first) == []
    second = connect("replace")["client"]
    # The Durable Object closes the old socket itself: 1012, through the JS WebSocket.
    frames = h.frames(first)
    assert [f.get("close") for f in frames] == [1012]
    refused = connect("reject")
    assert refused["client"] is None
    assert refused["status"] == 409
    sockets = h.call("inspect", binding="LAB", name="lab:dups")["sockets"]
    assert [(s["client"], s["readyState"]) for s in sockets] == [(first, 3), (second, 1)]

    # The old socket's client answers the close late, after a hibernation: the report
    # must not end the new connection, which has the same id.
    def closes() -> Any:
        return h.py("import json, worker_app\njson.dumps([e for e in worker_app.probe.log if e.startswith('close:')])")

    before = closes()
    h.call("hibernate", binding="LAB", name="lab:dups")
    h.call("answer_close", client=first)
    assert closes() == before
    assert [c["id"] for c in get(h, "/api/lab/dups/connections")] == ["kim"]
    h.send_json(second, {"_tag": "Shout", "text": "still me"})
    assert [m["_tag"] for m in h.messages(second)] == ["Said"]


def test_a_room_calls_a_sibling_room_through_the_namespace(worker: NodeHarness) -> None:
    # Lab's handler credits a Ledger instance with ctx.room(Ledger): from inside one Durable
    # Object, through env.LAB, a stub's fetch into another one, and back.
    h = worker
    for amount in [5, 7]:
        event = {"_tag": "Ask", "ledger_id": "L1", "amount": amount}
        answer = h.call("request", url=f"{WORKER}/api/lab/s1/send", method="POST", body=json.dumps(event))
        assert answer["status"] == 200, answer
    assert get(h, "/api/ledger/L1/state") == {"balance": 12}
    seen = h.py("import json, worker_app\njson.dumps([s.balance for s in worker_app.probe.ledger_states])")
    assert seen[-2:] == [5, 12]
    assert json.loads(h.call("inspect", binding="LAB", name="ledger:L1")["storage"]["state"]) == {"balance": 12}


def test_purge_deletes_storage_and_the_alarm(worker: NodeHarness) -> None:
    h = worker
    for event in [{"_tag": "Inc", "by": 5}, {"_tag": "Schedule", "in_ms": 60_000}, {"_tag": "Do", "action": "wipe"}]:
        answer = h.call("request", url=f"{WORKER}/api/lab/t2/send", method="POST", body=json.dumps(event))
        assert answer["status"] == 200, answer
    wiped = h.call("inspect", binding="LAB", name="lab:t2")
    assert wiped["storage"] == {}
    assert wiped["alarm"] is None
    # deleteAll() keeps the alarm before compat date 2026-02-24: purge deletes both.
    assert wiped["calls"][-2:] == ["deleteAll", "deleteAlarm"]
    assert get(h, "/api/lab/t2/state") is None


def test_the_harness_refuses_what_the_runtime_refuses(worker: NodeHarness) -> None:
    # The checks that make the story above meaningful: Python values that were not
    # converted with to_js are refused, as the Workers runtime refuses them.
    got = worker.py(
        "import json, js\n"
        "from pyodide.ffi import to_js\n"
        "state = js.scratchDurableObjectState()\n"
        "client, server = js.WebSocketPair.new().object_values()\n"
        "out = {}\n"
        "async def attempt(name, f):\n"
        "    try:\n"
        "        r = f()\n"
        "        if hasattr(r, 'then'):\n"
        "            await r\n"
        "        out[name] = 'ok'\n"
        "    except Exception as e:\n"
        "        out[name] = type(e).__name__\n"
        "obj = lambda d: to_js(d, dict_converter=js.Object.fromEntries)\n"
        "await attempt('accept_list', lambda: state.acceptWebSocket(server, ['user:a']))\n"
        "await attempt('accept_array', lambda: state.acceptWebSocket(server, to_js(['user:a'])))\n"
        "await attempt('attach_dict', lambda: server.serializeAttachment({'a': 1}))\n"
        "await attempt('attach_str', lambda: server.serializeAttachment('{\"a\": 1}'))\n"
        "await attempt('attach_big', lambda: server.serializeAttachment('x' * 20000))\n"
        "await attempt('send_bytes', lambda: server.send(b'raw'))\n"
        "await attempt('send_buffer', lambda: server.send(to_js(b'raw')))\n"
        "await attempt('put_dict', lambda: state.storage.put('k', {'a': 1}))\n"
        "await attempt('put_object', lambda: state.storage.put('k', obj({'a': 1})))\n"
        "await attempt('put_entries_dict', lambda: state.storage.put({'k': 'v'}))\n"
        "await attempt('put_entries', lambda: state.storage.put(obj({'k': 'v'})))\n"
        "await attempt('delete_list', lambda: state.storage.delete(['k']))\n"
        "await attempt('close_1005', lambda: server.close(1005, ''))\n"
        "json.dumps(out)"
    )
    assert got == {
        "accept_list": "JsException",
        "accept_array": "ok",
        "attach_dict": "JsException",
        "attach_str": "ok",
        "attach_big": "JsException",
        "send_bytes": "JsException",
        "send_buffer": "ok",
        "put_dict": "JsException",
        "put_object": "ok",
        "put_entries_dict": "JsException",
        "put_entries": "ok",
        "delete_list": "JsException",
        "close_1005": "JsException",
    }
    with pytest.raises(HarnessError, match="no client"):
        worker.call("send", client=999_999, text="x")
