"""examples/cloudflare-chat, run on the fake Workers runtime: its entry modules
import as a Worker would import them, and serve an upgrade and a say."""

from __future__ import annotations

import importlib
import json
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import json5
import pytest

from durable_effect.effect import TestClock
from durable_effect.sockets.cloudflare.fake import (
    CLOSED,
    FakeCloudflare,
    FakeRequest,
    FakeResponse,
    FakeWebSocket,
    install_fake_modules,
    uninstall_fake_modules,
)
from durable_effect.sockets.cloudflare.testing import check_worker
from durable_effect.sockets.memory import START_MS

pytestmark = pytest.mark.anyio

WORKER_DIR = Path(__file__).resolve().parents[2] / "examples" / "cloudflare-chat"
WORKER_SRC = WORKER_DIR / "src"
WRANGLER: dict[str, Any] = json5.loads((WORKER_DIR / "wrangler.jsonc").read_text())
WORKER_MODULES = ("entry", "fastapi_entry", "rooms", "chat")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def worker_modules() -> Iterator[dict[str, ModuleType]]:
    """The Worker's modules, imported from its src/ with the fake runtime installed."""
    install_fake_modules()
    sys.path.insert(0, str(WORKER_SRC))
    try:
        yield {name: importlib.import_module(name) for name in ("entry", "fastapi_entry")}
    finally:
        sys.path.remove(str(WORKER_SRC))
        for name in list(sys.modules):
            if name.split(".")[0] in WORKER_MODULES:
                del sys.modules[name]
        uninstall_fake_modules()


def worker(module: ModuleType) -> tuple[Any, FakeCloudflare]:
    """The Worker as the runtime loads it: each binding's class found by its
    `class_name` in the main module, the entrypoint by the name `Default`."""
    check_worker(module, WRANGLER)
    world = FakeCloudflare(TestClock(START_MS))
    for binding in WRANGLER["durable_objects"]["bindings"]:
        world.bind(binding["name"], getattr(module, binding["class_name"]))
    return module.Default(None, world.env), world


def test_wrangler_s_main_module_is_the_plain_entry() -> None:
    assert WRANGLER["main"] == "src/entry.py"
    assert "python_workers" in WRANGLER["compatibility_flags"]


@pytest.mark.parametrize("name", ["entry", "fastapi_entry"])
def test_each_entry_exports_the_class_wrangler_binds(worker_modules: dict[str, ModuleType], name: str) -> None:
    module = worker_modules[name]
    check_worker(module, WRANGLER)
    assert module.ChatDO.__name__ == "ChatDO"


async def connect(entry: Any, world: FakeCloudflare, user: str) -> FakeWebSocket:
    upgrade = FakeRequest(f"https://chat.test/ws/chat/r1?userId={user}", headers={"Upgrade": "websocket"})
    response = await entry.fetch(upgrade)
    assert isinstance(response, FakeResponse) and response.status == 101
    assert isinstance(response.webSocket, FakeWebSocket)
    await world.settle()
    return response.webSocket


def tags(frames: list[str]) -> list[tuple[str, str]]:
    return [(m["_tag"], m.get("text") or m.get("userId", "")) for m in map(json.loads, frames)]


async def test_the_plain_entry_upgrades_and_says(worker_modules: dict[str, ModuleType]) -> None:
    entry, world = worker(worker_modules["entry"])
    assert issubclass(worker_modules["entry"].ChatDO, sys.modules["workers"].DurableObject)

    alice = await connect(entry, world, "alice")
    bob = await connect(entry, world, "bob")
    say = FakeRequest("https://chat.test/api/chat/r1/say", "POST", body=json.dumps({"text": "hello"}))
    response = await entry.fetch(say)
    assert response.status == 200 and json.loads(await response.text()) == {"status": "ok"}
    assert tags(alice.frames) == [("UserJoined", "bob"), ("Message", "hello")]
    assert tags(bob.frames) == [("Message", "hello")]

    # Frames from a client reach the room; its close reaches the others.
    alice.send(json.dumps({"_tag": "Say", "text": "hi bob"}))
    await world.settle()
    assert tags(bob.frames)[-1] == ("Message", "hi bob")
    bob.close(1000, "bye")
    await world.settle()
    assert bob.readyState == CLOSED and bob.close_code == 1000
    assert tags(alice.frames)[-1] == ("UserLeft", "bob")

    # The one room instance is one Durable Object named chat:r1, with its tags.
    (obj,) = world.objects.values()
    assert obj.name == "chat:r1"
    assert [s.tags for s in obj.sockets] == [["alice", "user:alice"], ["bob", "user:bob"]]
    missing = await entry.fetch(FakeRequest("https://chat.test/nowhere"))
    assert missing.status == 404


async def test_the_fastapi_entry_routes_the_upgrade_before_fastapi(worker_modules: dict[str, ModuleType]) -> None:
    entry, world = worker(worker_modules["fastapi_entry"])
    alice = await connect(entry, world, "alice")

    json_type = {"content-type": "application/json"}
    say = FakeRequest("https://chat.test/api/chat/r1/say", "POST", json_type, '{"text": "hey"}')
    response = await entry.fetch(say)
    assert response.status == 200 and json.loads(await response.text()) == {"status": "ok"}
    assert tags(alice.frames) == [("Message", "hey")]

    state = await entry.fetch(FakeRequest("https://chat.test/api/chat/r1/state"))
    assert json.loads(await state.text())["messageCount"] == 1
    conns = json.loads(await (await entry.fetch(FakeRequest("https://chat.test/api/chat/r1/connections"))).text())
    assert [(c["id"], c["tags"], c["state"]["userId"]) for c in conns] == [("alice", ["user:alice"], "alice")]
    tagged = await entry.fetch(FakeRequest("https://chat.test/api/chat/r1/connections?tag=user:bob"))
    assert json.loads(await tagged.text()) == []
    empty = await entry.fetch(FakeRequest("https://chat.test/api/chat/elsewhere/state"))
    assert json.loads(await empty.text()) is None


async def test_with_a_chat_secret_the_user_comes_from_a_signed_token(worker_modules: dict[str, ModuleType]) -> None:
    entry, world = worker(worker_modules["entry"])
    world.env.CHAT_SECRET = "s3cret"

    async def upgrade(query: str) -> FakeResponse:
        request = FakeRequest(f"https://chat.test/ws/chat/r1?{query}", headers={"Upgrade": "websocket"})
        response = await entry.fetch(request)
        assert isinstance(response, FakeResponse)
        return response

    assert (await upgrade("userId=alice")).status == 401  # a claim is not enough
    forged = worker_modules["entry"].identity.sign("alice", secret=b"another secret")
    assert (await upgrade(f"token={forged}")).status == 403

    login = await entry.fetch(FakeRequest("https://chat.test/login", "POST", body=json.dumps({"name": " alice "})))
    assert login.status == 200
    token = json.loads(await login.text())["token"]
    opened = await upgrade(f"token={token}&userId=mallory")  # the token decides, not the query
    assert opened.status == 101
    await world.settle()
    (obj,) = world.objects.values()
    assert [s.tags for s in obj.sockets] == [["alice", "user:alice"]]

    bad = await entry.fetch(FakeRequest("https://chat.test/login", "POST", body="{not json"))
    assert (bad.status, json.loads(await bad.text())) == (400, {"error": "name is required"})


@pytest.mark.parametrize(
    "body",
    ["{not json", "[]", json.dumps({}), json.dumps({"text": 42}), json.dumps({"text": "x" * 20_000})],
)
async def test_say_refuses_a_bad_body_with_a_json_error(worker_modules: dict[str, ModuleType], body: str) -> None:
    entry, world = worker(worker_modules["entry"])
    alice = await connect(entry, world, "alice")
    response = await entry.fetch(FakeRequest("https://chat.test/api/chat/r1/say", "POST", body=body))
    assert response.status == 400
    assert "error" in json.loads(await response.text())
    await world.settle()
    assert alice.frames == []  # nothing reached the room


async def test_say_takes_a_bearer_token_when_the_worker_has_an_api_token(
    worker_modules: dict[str, ModuleType],
) -> None:
    entry, world = worker(worker_modules["entry"])
    world.env.API_TOKEN = "t0ken"
    alice = await connect(entry, world, "alice")
    body = json.dumps({"text": "hello"})
    url = "https://chat.test/api/chat/r1/say"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "t0ken"}):
        refused = await entry.fetch(FakeRequest(url, "POST", headers, body))
        assert refused.status == 401, headers
    allowed = await entry.fetch(FakeRequest(url, "POST", {"Authorization": "Bearer t0ken"}, body))
    assert allowed.status == 200
    await world.settle()
    assert tags(alice.frames) == [("Message", "hello")]
    # Without a CHAT_SECRET there is no login.
    assert (await entry.fetch(FakeRequest("https://chat.test/login", "POST", body="{}"))).status == 404


async def test_the_fastapi_routes_take_a_bearer_token_when_the_worker_has_an_api_token(
    worker_modules: dict[str, ModuleType],
) -> None:
    entry, world = worker(worker_modules["fastapi_entry"])
    world.env.API_TOKEN = "t0ken"
    url = "https://chat.test/api/chat/r1/state"
    assert (await entry.fetch(FakeRequest(url))).status == 401
    assert (await entry.fetch(FakeRequest(url, headers={"Authorization": "Bearer nope"}))).status == 401
    answer = await entry.fetch(FakeRequest(url, headers={"Authorization": "Bearer t0ken"}))
    assert answer.status == 200 and json.loads(await answer.text()) is None


def test_the_worker_ships_the_workers_sdk() -> None:
    # From compatibility date 2026-04-21 the runtime has no built-in `workers`
    # module: the SDK package must be a runtime dependency, bundled with the Worker.
    assert WRANGLER["compatibility_date"] >= "2026-04-21"
    project = tomllib.loads((WORKER_DIR / "pyproject.toml").read_text())["project"]
    runtime = {re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]}
    assert {"workers-runtime-sdk", "durable-effect"} <= runtime
