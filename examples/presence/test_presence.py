"""The presence list on the in-memory runtime: who is here, who is typing."""

from __future__ import annotations

import json

import pytest

from durable_effect.effect import run_promise
from durable_effect.sockets import ConnectionInit, UpgradeOpts, make_in_memory_socket_runtime
from durable_effect.sockets.memory import InMemorySocketRuntime, TestConnection

from .room import Changed, Joined, Left, Lobby, Presence, Present, Rename, Roster, SetTyping, config

Page = TestConnection[Present, SetTyping | Rename, Roster | Joined | Changed | Left]


async def arrive(rt: InMemorySocketRuntime, user_id: str, name: str) -> Page:
    init = ConnectionInit(Present(user_id=user_id, display_name=name), id=user_id)
    return await run_promise(rt.testing_connect(Presence, "doc-1", UpgradeOpts(connection=init)))


@pytest.mark.anyio
async def test_who_is_here_and_who_is_typing() -> None:
    rt = make_in_memory_socket_runtime(config)
    ann = await arrive(rt, "u1", "Ann")
    ann_p = Present(user_id="u1", display_name="Ann")
    assert ann.received == [Roster(members=[ann_p], peak_online=1)]

    # Bob arrives: he gets the roster, Ann hears that he joined.
    bob = await arrive(rt, "u2", "Bob")
    bob_p = Present(user_id="u2", display_name="Bob")
    assert bob.received == [Roster(members=[ann_p, bob_p], peak_online=2)]
    assert ann.received[-1:] == [Joined(member=bob_p)]

    # Bob types: Ann sees it; saying it twice says nothing new.
    await run_promise(bob.receive(SetTyping(is_typing=True)))
    await run_promise(bob.receive(SetTyping(is_typing=True)))
    typing = Changed(member=bob_p.model_copy(update={"is_typing": True}))
    assert ann.received[-1:] == [typing] and ann.received.count(typing) == 1
    # On the wire, in camelCase.
    assert json.loads(ann.raw_received[-1]) == {
        "_tag": "Changed",
        "member": {"userId": "u2", "displayName": "Bob", "isTyping": True},
    }
    # The page sends camelCase too.
    assert Presence.event.validate_json('{"_tag": "SetTyping", "isTyping": false}') == SetTyping(is_typing=False)

    await run_promise(ann.receive(Rename(display_name="  Annie ")))
    assert bob.received[-1:] == [Changed(member=Present(user_id="u1", display_name="Annie"))]

    # Bob leaves: Ann hears it; the peak is remembered.
    await run_promise(bob.close())
    assert ann.received[-1:] == [Left(user_id="u2")]
    assert await run_promise(rt.room(Presence).get_state("doc-1")) == Lobby(peak_online=2)
