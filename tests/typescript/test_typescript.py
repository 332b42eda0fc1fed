"""The generated room types and the browser client's types, compiled with `tsc --strict`.

A small client file (chat_client.ts) compiles against the `.d.ts` that
`durable-effect schema --typescript` writes for the chat; a wrong `_tag`, a
missing field or a snake_case name where the wire is camelCase does not.
Needs Node.js and `make typescript-deps` (npm ci here); without Node the test
is skipped and says so.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from durable_effect.cli import main
from durable_effect.sockets.server.app import BROWSER_DIR

HERE = Path(__file__).parent
NODE = shutil.which("node")
TSC = HERE / "node_modules" / "typescript" / "bin" / "tsc"


def schema_ts(target: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["schema", target, "--typescript"])
    return out.getvalue()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with the generated types, the client and its types, and chat_client.ts."""
    if NODE is None:
        pytest.skip("node is not installed: the TypeScript test needs Node.js (and `make typescript-deps`)")
    if not TSC.is_file():
        pytest.fail("typescript is missing: run `make typescript-deps` (npm ci in tests/typescript)")
    (tmp_path / "rooms.d.ts").write_text(schema_ts("examples.chat.registry:registry"))
    (tmp_path / "presence.d.ts").write_text(schema_ts("examples.presence.room:registry"))
    for name in ("client.js", "client.d.ts"):
        shutil.copy(BROWSER_DIR / name, tmp_path / name)
    shutil.copy(HERE / "chat_client.ts", tmp_path / "chat_client.ts")
    return tmp_path


def tsc(project: Path, *files: str) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    flags = ["--strict", "--noEmit", "--target", "es2022", "--module", "es2022", "--moduleResolution", "bundler"]
    return subprocess.run(
        [NODE, str(TSC), *flags, "--lib", "es2022,dom", *files],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_client_file_compiles_against_the_generated_types(project: Path) -> None:
    result = tsc(project, "chat_client.ts", "presence.d.ts")
    assert result.returncode == 0, result.stdout + result.stderr


MISTAKES = {  # the mistake, and the error tsc gives
    "a wrong _tag": ('conn.send({ _tag: "Shout", text: "hi" });', "TS2322"),
    "a missing field": ('conn.send({ _tag: "Say" });', "Property 'text' is missing"),
    "a field of another member": ('conn.send({ _tag: "Typing", text: "hi" });', "TS2353"),
    "a snake_case name": ('export const f = (m: ChatBroadcast) => m._tag === "UserLeft" && m.user_id;', "TS2551"),
    "a broadcast where an event goes": ('conn.send({ _tag: "UserJoined", userId: "ann" });', "TS2322"),
    "a room's name misspelt": ('roomPath<ChatRoom>("chatt", "lobby");', "TS2345"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_is_a_compile_error(project: Path, mistake: str) -> None:
    source = "\n".join(
        [
            'import { connect, roomPath } from "./client.js";',
            'import type { ChatBroadcast, ChatRoom } from "./rooms.js";',
            'const conn = await connect<ChatRoom>("/ws/chat/lobby");',
            MISTAKES[mistake][0],
            "export {};",
        ]
    )
    (project / "mistake.ts").write_text(source)
    result = tsc(project, "mistake.ts")
    assert result.returncode != 0, f"{mistake} compiled"
    assert "mistake.ts(4," in result.stdout, result.stdout  # the error is on the mistake's line
    assert MISTAKES[mistake][1] in result.stdout, result.stdout


def test_the_guide_s_typescript_compiles(project: Path) -> None:
    guide = (HERE.parents[1] / "docs" / "guide.md").read_text()
    blocks = [b for b in re.findall(r"```ts\n(.*?)```", guide, re.DOTALL) if b.startswith("import")]
    assert len(blocks) == 1, "docs/guide.md: the client example in From the browser"
    (project / "guide_example.ts").write_text(blocks[0] + "export {};\n")
    result = tsc(project, "guide_example.ts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_client_d_ts_declares_what_client_js_exports(project: Path) -> None:
    assert NODE is not None
    exported = subprocess.run(
        [NODE, "--input-type=module", "-e", "console.log(Object.keys(await import('./client.js')).sort().join())"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()[0]
    types = (project / "client.d.ts").read_text()
    declared = re.findall(r"^export declare (?:class|function|const) (\w+)", types, re.M)
    assert exported == ",".join(sorted(declared))
