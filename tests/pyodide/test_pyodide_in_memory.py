"""Inside Pyodide (CPython 3.14 on wasm): the library imports, pydantic-core's wasm
build validates, and the chat story on the in-memory host gives exactly what it
gives on this interpreter."""

from __future__ import annotations

from typing import Any

import anyio

from .in_memory_story import NAMES, chat_story
from .node_harness import NodeHarness


def test_boots_python_314_with_the_pinned_wheels(harness: NodeHarness) -> None:
    assert harness.boot_info["python"].startswith("3.14.")
    assert harness.boot_info["pyodide"].startswith("314.")
    found = harness.py(
        "import json, sys, pydantic, pydantic_core, durable_effect\n"
        "json.dumps([sys.platform, pydantic.VERSION, pydantic_core.__version__, durable_effect.__file__])"
    )
    assert found[0] == "emscripten"
    assert found[1].startswith("2.")
    assert found[3].startswith("/lib/python3.14/site-packages/durable_effect/")


def test_tagged_structs_keep_their_fields_under_lazy_annotations(harness: NodeHarness) -> None:
    # No `from __future__ import annotations` here: on 3.14 the class body leaves
    # an annotate function, not a dict, and a field may name a class defined later.
    got = harness.py(
        "import json\n"
        "from durable_effect.sockets import Schema, TaggedStruct\n"
        "class Ask(TaggedStruct):\n"
        "    text: str\n"
        "    reply: Answer | None = None\n"
        "class Answer(TaggedStruct, tag='chat.answer'):\n"
        "    to: str\n"
        "Ask.model_rebuild()\n"
        "union = Schema.union(Ask, Answer)\n"
        "parsed = union.validate_json(\n"
        '    \'{"_tag": "Ask", "text": "hi", "reply": {"_tag": "chat.answer", "to": "bob"}}\'\n'
        ")\n"
        "try:\n"
        '    union.validate_json(\'{"_tag": "Ask"}\')\n'
        "    missing = 'accepted'\n"
        "except Exception as e:\n"
        "    missing = type(e).__name__\n"
        "json.dumps([sorted(Ask.model_fields), parsed.to_json(), missing])"
    )
    assert got[0] == ["reply", "tag_", "text"]
    assert got[1] == '{"text":"hi","reply":{"to":"bob","_tag":"chat.answer"},"_tag":"Ask"}'
    assert got[2] == "ValidationError"


def test_in_memory_chat_story_matches_cpython(harness: NodeHarness) -> None:
    inside: dict[str, Any] = harness.py(
        "import json\nfrom in_memory_story import chat_story\njson.dumps(await chat_story())"
    )
    here = anyio.run(chat_story)
    assert inside == here  # pydantic's JSON, the engine's ordering and the clock agree

    frames = inside["frames"]
    assert [f["_tag"] for f in frames["alice"]] == [
        *["UserJoined"] * 4,
        *["Message", "Message", "Typing", "Message", "Message"],
        "UserLeft",
    ]
    said = [(f["userId"], f["text"]) for f in frames["eve"] if f["_tag"] == "Message"]
    assert said == [
        ("alice", "hi all"),
        ("bob", "hey alice"),
        ("system", "maintenance at noon"),
        ("eve", "after the nap"),
    ]
    assert not any(f["_tag"] == "Typing" for f in frames["carol"])
    assert inside["state"]["messageCount"] == 4
    assert inside["connections"] == [n for n in NAMES if n != "dave"]
    assert inside["carol"] == [["carol", ["user:carol"], {"userId": "carol", "joinedAt": 1_700_000_120_000.0}]]


def test_attachment_sizes_are_what_v8_serializes(harness: NodeHarness) -> None:
    # Python strings crossed into JavaScript as Pyodide converts them, sized by
    # V8's own serializer (`serialize` of node:v8), against the engine's count.
    got = harness.py(
        "import json\n"
        "from js import structuredCloneSize\n"
        "from durable_effect.sockets.limits import structured_clone_size\n"
        "texts = ['', 'a', 'a' * 127, 'a' * 128, 'é' * 200, 'ÿ' * 9000, '€', '€' * 63, '€' * 64,\n"
        "         '€' + 'a' * 10073, 'a' * 16384, 'a' * 16379, '€' + 'a' * 8188, '😀' * 3, 'x😀' * 70]\n"
        "json.dumps([(len(t), structured_clone_size(t), structuredCloneSize(t)) for t in texts])"
    )
    assert [(n, ours) for n, ours, _ in got] == [(n, v8) for n, _, v8 in got]
    assert (16_384, 16_390, 16_390) in [tuple(row) for row in got]
