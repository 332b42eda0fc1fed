"""The seed's five-client chat story (examples/chat/test_chat_story.py), word for
word, on the Cloudflare host: every step goes through the Durable Object adapter
on the fake Workers runtime instead of the in-memory host."""

from __future__ import annotations

import pytest

import examples.chat.test_chat_story as story
from durable_effect.sockets import SocketConfig
from durable_effect.sockets.cloudflare.testing import CloudflareTestRuntime


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_five_clients_chat_in_one_room_on_durable_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[CloudflareTestRuntime] = []

    def on_cloudflare(config: SocketConfig) -> CloudflareTestRuntime:
        rt = CloudflareTestRuntime(config)
        made.append(rt)
        return rt

    monkeypatch.setattr(story, "make_in_memory_socket_runtime", on_cloudflare)
    try:
        await story.test_five_clients_chat_in_one_room()
    finally:
        for rt in made:
            await rt.aclose()
    (rt,) = made
    # It really ran on Durable Objects: one object, named chat:room-1, five sockets.
    assert [obj.name for obj in rt.world.objects.values()] == ["chat:room-1"]
    assert len(rt.sockets("chat", story.ROOM)) == 5
