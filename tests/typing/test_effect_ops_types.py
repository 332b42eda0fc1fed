"""The types users see for retry/Schedule, scoped resources, Config and the
newer combinators: mypy --strict over `effect_ops_usage.py` (exact reveals)
and `effect_ops_mistakes.py` (exact errors), without the plugin."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from .test_types import _ERROR_MARK, _NOTE_MARK, _REPORT, Report, marks, start_mypy

USAGE = "effect_ops_usage.py"
MISTAKES = "effect_ops_mistakes.py"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Report]]:
    run = start_mypy(tmp_path_factory, "", (USAGE, MISTAKES))
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode in (0, 1) and not stderr, f"mypy did not run: exit {run.returncode}\n{stderr}{stdout}"
    by_file: dict[str, list[Report]] = defaultdict(list)
    for raw in stdout.splitlines():
        match = _REPORT.match(raw)
        assert match is not None, f"unexpected mypy output: {raw!r}"
        by_file[Path(match["path"]).name].append(Report(int(match["line"]), match["severity"], match["message"], match["code"]))
    return by_file


def test_usage_type_checks_and_reveals_the_promised_types(reports: dict[str, list[Report]]) -> None:
    errors = [f"line {r.line}: {r.message}  [{r.code}]" for r in reports[USAGE] if r.severity == "error"]
    assert errors == []
    promised = marks(USAGE, _NOTE_MARK)
    assert len(promised) >= 15
    revealed = {r.line: r.message for r in reports[USAGE] if r.severity == "note"}
    mismatches = [
        f"line {n}: promised {promised.get(n)!r}, mypy said {revealed.get(n)!r}"
        for n in sorted(promised.keys() | revealed.keys())
        if promised.get(n) != revealed.get(n)
    ]
    assert mismatches == []


def test_mistakes_get_errors_exactly_where_marked(reports: dict[str, list[Report]]) -> None:
    marked = {n: set(codes.split(", ")) for n, codes in marks(MISTAKES, _ERROR_MARK).items()}
    assert len(marked) >= 12
    found: dict[int, set[str]] = defaultdict(set)
    messages: dict[int, list[str]] = defaultdict(list)
    for r in reports[MISTAKES]:
        if r.severity == "error":
            found[r.line].add(r.code or "(no code)")
            messages[r.line].append(r.message)
    mismatches = [
        f"line {n}: marked {sorted(marked.get(n, ()))}, mypy said {sorted(found[n])} {messages[n]}"
        for n in sorted(marked.keys() | found.keys())
        if marked.get(n, set()) != found[n]
    ]
    assert mismatches == []
