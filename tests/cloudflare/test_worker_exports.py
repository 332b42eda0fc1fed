"""The Durable Object class of a socket group is exported under its own name, as
the runtime exports it; `check_worker` finds the wiring that would not resolve."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from durable_effect.effect import TestClock, run_promise
from durable_effect.sockets import ConnectionInit, UpgradeOpts
from durable_effect.sockets.cloudflare import make_socket_group_do
from durable_effect.sockets.cloudflare.fake import (
    FakeCloudflare,
    FakeResponse,
    install_fake_modules,
    uninstall_fake_modules,
)
from durable_effect.sockets.cloudflare.testing import WorkerConfigError, check_worker
from durable_effect.sockets.memory import START_MS
from examples.chat.handlers import config as chat_config
from examples.chat.registry import Chat, ChatConnection
from tests.sockets.rooms import Lab, LabConn, Probe, lab_config

pytestmark = pytest.mark.anyio

TWO_GROUPS: dict[str, Any] = {
    "main": "src/entry.py",
    "durable_objects": {
        "bindings": [{"name": "CHAT", "class_name": "ChatDO"}, {"name": "LAB", "class_name": "LabDO"}],
    },
    "migrations": [{"tag": "v1", "new_sqlite_classes": ["ChatDO", "LabDO"]}],
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def fake_workers() -> Iterator[None]:
    install_fake_modules()
    try:
        yield
    finally:
        uninstall_fake_modules()


def main_module(**exports: object) -> ModuleType:
    module = ModuleType("entry")
    for name, value in exports.items():
        setattr(module, name, value)
    return module


def problems(module: ModuleType, wrangler: dict[str, Any]) -> list[str]:
    with pytest.raises(WorkerConfigError) as caught:
        check_worker(module, wrangler)
    return caught.value.problems


def test_the_class_is_named_class_name() -> None:
    group = make_socket_group_do(chat_config, class_name="ChatDO", binding="CHAT")
    assert (group.DO.__name__, group.DO.__qualname__) == ("ChatDO", "ChatDO")
    assert issubclass(group.DO, sys.modules["workers"].DurableObject)


@pytest.mark.parametrize("name", ["chat-do", "Chat DO", "", "1ChatDO", "class", "_ChatDO"])
def test_a_name_the_runtime_cannot_export_fails_at_import(name: str) -> None:
    with pytest.raises(ValueError, match="class_name"):
        make_socket_group_do(chat_config, class_name=name, binding="CHAT")


def test_the_class_name_must_be_given() -> None:
    with pytest.raises(TypeError, match="class_name"):
        make_socket_group_do(chat_config, binding="CHAT")  # type: ignore[call-arg]  # the mistake under test


def test_a_class_exported_under_another_name_does_not_resolve() -> None:
    # The old wiring: the attribute is ChatDO, the class is named otherwise, so the
    # runtime exports it under its own name and finds nothing by the binding's.
    group = make_socket_group_do(chat_config, class_name="SocketGroupDO", binding="CHAT_DO")
    wrangler = {
        "durable_objects": {"bindings": [{"name": "CHAT_DO", "class_name": "ChatDO"}]},
        "migrations": [{"tag": "v1", "new_sqlite_classes": ["ChatDO"]}],
    }
    found = problems(main_module(ChatDO=group.DO), wrangler)
    assert any("entry.ChatDO is a Durable Object class named 'SocketGroupDO'" in p for p in found), found
    assert any("no Durable Object class named 'ChatDO' is exported" in p for p in found), found


def test_two_groups_in_one_worker_have_distinct_names() -> None:
    chat = make_socket_group_do(chat_config, class_name="ChatDO", binding="CHAT")
    lab = make_socket_group_do(lab_config(Probe()), class_name="LabDO", binding="LAB")
    check_worker(main_module(ChatDO=chat.DO, LabDO=lab.DO), TWO_GROUPS)

    # The same name twice: one of them cannot be found.
    twin = make_socket_group_do(lab_config(Probe()), class_name="ChatDO", binding="LAB")
    found = problems(main_module(ChatDO=chat.DO, LabDO=twin.DO), TWO_GROUPS)
    assert any("two Durable Object classes are named 'ChatDO'" in p for p in found), found


def test_bindings_and_migrations_must_match_the_groups() -> None:
    chat = make_socket_group_do(chat_config, class_name="ChatDO", binding="CHAT_DO")  # not wrangler's CHAT
    lab = make_socket_group_do(lab_config(Probe()), class_name="LabDO", binding="LAB")
    unmigrated = {**TWO_GROUPS, "migrations": [{"tag": "v1", "new_sqlite_classes": ["ChatDO"]}]}
    found = problems(main_module(ChatDO=chat.DO, LabDO=lab.DO), unmigrated)
    assert any("binding='CHAT_DO'" in p for p in found), found
    assert any("no migration creates class 'LabDO'" in p for p in found), found


async def test_two_groups_serve_their_rooms_from_one_worker() -> None:
    probe = Probe()
    chat = make_socket_group_do(chat_config, class_name="ChatDO", binding="CHAT")
    lab = make_socket_group_do(lab_config(probe), class_name="LabDO", binding="LAB")
    module = main_module(ChatDO=chat.DO, LabDO=lab.DO)
    check_worker(module, TWO_GROUPS)
    world = FakeCloudflare(TestClock(START_MS))
    for binding in TWO_GROUPS["durable_objects"]["bindings"]:
        world.bind(binding["name"], getattr(module, binding["class_name"]))

    chat_rooms = chat.client(world.env.CHAT)
    lab_rooms = lab.client(world.env.LAB)
    chat_opts = UpgradeOpts(ConnectionInit(ChatConnection(user_id="ann", joined_at=0.0), id="ann"))
    answer = await run_promise(chat_rooms.room(Chat).upgrade("r1", None, chat_opts))
    assert isinstance(answer, FakeResponse) and answer.status == 101
    lab_opts = UpgradeOpts(ConnectionInit(LabConn(name="b"), id="b"))
    answer = await run_promise(lab_rooms.room(Lab).upgrade("r1", None, lab_opts))
    assert isinstance(answer, FakeResponse) and answer.status == 101
    await world.settle()
    assert sorted((o.binding, o.name) for o in world.objects.values()) == [("CHAT", "chat:r1"), ("LAB", "lab:r1")]
    assert [i.id for i in await run_promise(lab_rooms.room(Lab).get_connections("r1"))] == ["b"]
    assert [i.id for i in await run_promise(chat_rooms.room(Chat).get_connections("r1"))] == ["ann"]
