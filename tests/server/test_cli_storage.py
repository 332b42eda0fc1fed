"""`durable-effect serve --db PATH` with a database it cannot use: one clear
line naming the file, and a non-zero exit (not a traceback, not a hang)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def serve(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "durable_effect.cli", "serve", "tests.server.server_rooms:make_server", "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_database_in_a_missing_directory_is_named_and_refused(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "rooms.db"
    result = serve(db)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(db) in lines[0] and lines[0].startswith("durable-effect: ")


def test_a_database_that_is_not_sqlite_is_named_and_refused(tmp_path: Path) -> None:
    db = tmp_path / "rooms.db"
    db.write_text("not a database, " * 100)
    result = serve(db)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(db) in lines[0]
