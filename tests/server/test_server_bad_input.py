"""Bad input over real WebSockets: bad frames, oversized frames, too many tags, duplicates, floods."""

from __future__ import annotations

import asyncio
import json

import anyio
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from durable_effect.sockets import EngineOptions

from .server_helpers import http, nothing_more, raise_nofile, recv, serve, wait_closed
from .server_rooms import build


def add(text: str) -> str:
    return json.dumps({"_tag": "Add", "text": text})


@pytest.mark.anyio
async def test_bad_frames_keep_the_socket_open() -> None:
    async with serve(build()) as addr:
        url = f"ws://{addr}/ws/notes/b1"
        async with connect(f"{url}?name=ann&id=ann") as ann, connect(f"{url}?name=bob&id=bob") as bob:
            await ann.send("this is not json")
            bad = await recv(ann)
            assert bad["_tag"] == "BadFrame"
            await ann.send(json.dumps({"_tag": "Add", "txt": "wrong field"}))
            assert (await recv(ann))["_tag"] == "BadFrame"
            await ann.send(json.dumps({"_tag": "Unknown"}))
            assert (await recv(ann))["_tag"] == "BadFrame"
            await ann.send(json.dumps([1, 2, 3]))
            assert (await recv(ann))["_tag"] == "BadFrame"
            await nothing_more(bob)  # a bad frame never reaches anyone else
            assert await http("GET", f"http://{addr}/api/notes/b1/state") == (200, None)

            # a binary frame of valid JSON is read as UTF-8 JSON
            await ann.send(add("binary").encode())
            for ws in (ann, bob):
                assert await recv(ws) == {"_tag": "Added", "text": "binary", "by": "ann", "count": 1}
            # binary that is not UTF-8 JSON is a bad frame too
            await ann.send(b"\xff\x00\x01")
            assert (await recv(ann))["_tag"] == "BadFrame"
            # still open and working
            await ann.send(add("text"))
            assert (await recv(bob))["count"] == 2
            assert (await recv(ann))["count"] == 2


@pytest.mark.anyio
async def test_oversized_frame_closes_only_that_socket() -> None:
    async with serve(build(options=EngineOptions(max_frame_bytes=1000))) as addr:
        url = f"ws://{addr}/ws/notes/big"
        async with connect(f"{url}?name=ann&id=ann") as ann, connect(f"{url}?name=bob&id=bob") as bob:
            await ann.send(add("x" * 900))  # under the limit
            assert (await recv(bob))["count"] == 1
            assert (await recv(ann))["count"] == 1
            await ann.send(add("x" * 2000))
            assert await wait_closed(ann) == 1009
            await bob.send(add("after"))
            msg = await recv(bob)
            assert (msg["text"], msg["count"]) == ("after", 2)
            _status, conns = await http("GET", f"http://{addr}/api/notes/big/connections")
            assert [c["id"] for c in conns] == ["bob"]
            _, state = await http("GET", f"http://{addr}/api/notes/big/state")
            assert state["count"] == 2


@pytest.mark.anyio
async def test_tag_limit_and_refusals() -> None:
    async with serve(build()) as addr:
        url = f"ws://{addr}/ws/notes/tags"
        # id + name tag + 8 extra = 10: accepted
        async with connect(f"{url}?name=ann&id=ann&ntags=8") as ann:
            await ann.send(json.dumps({"_tag": "Who"}))
            assert (await recv(ann))["id"] == "ann"
            # id + name tag + 9 extra = 11: refused with an HTTP status
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{url}?name=bob&id=bob&ntags=9"):
                    pass
            assert refused.value.response.status_code == 400
            # the hook refusing
            with pytest.raises(InvalidStatus) as forbidden:
                async with connect(f"{url}?name=forbidden"):
                    pass
            assert forbidden.value.response.status_code == 403
            # unknown room
            with pytest.raises(InvalidStatus) as unknown:
                async with connect(f"ws://{addr}/ws/nosuchroom/x"):
                    pass
            assert unknown.value.response.status_code == 404
            _, conns = await http("GET", f"http://{addr}/api/notes/tags/connections")
            assert [c["id"] for c in conns] == ["ann"]
            assert len(conns[0]["tags"]) == 9


@pytest.mark.anyio
async def test_duplicate_ids_under_each_policy() -> None:
    async with serve(build()) as addr:
        api = f"http://{addr}/api/notes/dup"
        url = f"ws://{addr}/ws/notes/dup?name=ann&id=ann"
        async with connect(url) as first:
            # reject: 409, the first stays
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{url}&dup=reject"):
                    pass
            assert refused.value.response.status_code == 409
            await first.send(json.dumps({"_tag": "Who"}))
            assert (await recv(first))["_tag"] == "Echo"

            # allow: both stay and both receive
            async with connect(f"{url}&dup=allow") as second:
                _status, conns = await http("GET", f"{api}/connections")
                assert [c["id"] for c in conns] == ["ann", "ann"]
                await second.send(add("both"))
                assert (await recv(first))["text"] == "both"
                assert (await recv(second))["text"] == "both"

                # replace: every old socket with the id closes with 1012
                async with connect(f"{url}&dup=replace") as third:
                    assert await wait_closed(first) == 1012
                    assert await wait_closed(second) == 1012
                    _, conns = await http("GET", f"{api}/connections")
                    assert [c["id"] for c in conns] == ["ann"]
                    await third.send(add("only me"))
                    msg = await recv(third)
                    assert (msg["text"], msg["count"]) == ("only me", 2)


@pytest.mark.anyio
async def test_flood_from_one_client() -> None:
    raise_nofile()
    frames = 500
    async with serve(build()) as addr:
        url = f"ws://{addr}/ws/notes/flood"
        async with (
            connect(f"{url}?name=flood&id=flood") as flood,
            connect(f"{url}?name=calm&id=calm") as calm,
            connect(f"{url}?name=watch&id=watch") as watch,
        ):

            async def blast() -> None:
                for i in range(frames):
                    await flood.send(add(f"f{i}"))

            async def drain_flood() -> None:
                for _ in range(frames + 1):
                    await recv(flood)

            async with anyio.create_task_group() as tg:
                tg.start_soon(blast)
                tg.start_soon(drain_flood)
                await asyncio.sleep(0.01)
                await calm.send(add("calm"))
                seen: list[dict[str, object]] = []
                with anyio.fail_after(20):
                    while len(seen) < frames + 1:
                        seen.append(await recv(watch))
            counts = [m["count"] for m in seen]
            assert counts == list(range(1, frames + 2))
            flood_texts = [m["text"] for m in seen if m["by"] == "flood"]
            assert flood_texts == [f"f{i}" for i in range(frames)]
            assert [m["text"] for m in seen if m["by"] == "calm"] == ["calm"]
            calm_seen = [await recv(calm) for _ in range(frames + 1)]
            assert [m["count"] for m in calm_seen] == counts
            _, state = await http("GET", f"http://{addr}/api/notes/flood/state")
            assert state["count"] == frames + 1
            await watch.send(json.dumps({"_tag": "Who"}))
            assert (await recv(watch))["id"] == "watch"
