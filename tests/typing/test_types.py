"""The types users see: mypy --strict over the user code in this folder.

`good_usage.py` must type-check and reveal exactly the types its `# N:`
comments promise; `planted_mistakes.py` and `known_gaps.py` must get exactly
the errors their `# E: <code>` comments name, on those lines and no others.
mypy runs once over those without the `durable_effect.mypy` plugin (the
library's own annotations are what is tested), and once over the files
checked WITH it: `plugin_usage.py`, `wiring_usage.py` (clean, exact
reveals) and the `mistakes_*.py` files, one per kind of wiring mistake, where
each mark `E[code]: message` (a comment) is an error mypy must print on its
line, word for word.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SRC = HERE.parent.parent / "src"
GOOD = "good_usage.py"
PLANTED = "planted_mistakes.py"
GAPS = "known_gaps.py"
PLUGIN = "plugin_usage.py"
ROOMS = "rooms_mistakes.py"
WIRING = "wiring_usage.py"
WIRING_ROOMS = "wiring_rooms.py"  # the declarations the wiring files share
MISTAKES = (
    "mistakes_services.py",
    "mistakes_catch.py",
    "mistakes_rooms.py",
    "mistakes_models.py",
    "mistakes_decode.py",
)

# `path:line: error: message  [code]` as printed with --no-pretty --hide-error-context.
_REPORT = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+): (?P<severity>error|note): (?P<message>.*?)(?:  \[(?P<code>[a-z-]+)\])?$"
)
# A mark is a comment ending a line of code: `reveal_type(x)  # N: Revealed type is "int"`.
_NOTE_MARK = re.compile(r"\S\s+# N: (?P<note>.+?)\s*$")
_ERROR_MARK = re.compile(r"\S\s+# E: (?P<codes>[a-z][a-z-]*(?:, [a-z][a-z-]*)*)\s*$")
# `# E[code]: message`, possibly several on one line.
_MESSAGE_MARK = re.compile(r"# E\[(?P<code>[a-z-]+)\]: (?P<message>.+?)(?=\s+# E\[|\s*$)")


@dataclass(frozen=True)
class Report:
    line: int
    severity: str
    message: str
    code: str | None


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Report]]:
    """mypy's reports for each file of this folder, by file name.

    The two runs (our own config, not the project's: nothing excluded; one
    without the plugin, one with it) go side by side, in two processes.
    """
    runs = [
        start_mypy(tmp_path_factory, "", (GOOD, PLANTED, GAPS, ROOMS)),
        start_mypy(tmp_path_factory, "plugins = durable_effect.mypy\n", (PLUGIN, WIRING, WIRING_ROOMS, *MISTAKES)),
    ]
    by_file: dict[str, list[Report]] = defaultdict(list)
    for run in runs:
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode in (0, 1) and not stderr, f"mypy did not run: exit {run.returncode}\n{stderr}{stdout}"
        for raw in stdout.splitlines():
            match = _REPORT.match(raw)
            assert match is not None, f"unexpected mypy output: {raw!r}"
            by_file[Path(match["path"]).name].append(
                Report(int(match["line"]), match["severity"], match["message"], match["code"])
            )
    return by_file


def start_mypy(factory: pytest.TempPathFactory, extra_config: str, names: tuple[str, ...]) -> subprocess.Popen[str]:
    workdir = factory.mktemp("mypy")
    config = workdir / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {SRC}\n{extra_config}")
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(config),
        "--cache-dir",
        str(_cache_dir(extra_config)),
        "--python-version",
        "3.11",
        "--strict",
        "--show-error-codes",
        "--hide-error-context",
        "--no-pretty",
        "--no-color-output",
        "--no-error-summary",
        *(str(_copy(HERE / name, workdir)) for name in names),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cache_dir(extra_config: str) -> Path:
    """mypy's cache of the library and its dependencies, kept between runs
    (one per configuration); the checked files themselves are new each run."""
    return HERE.parent.parent / ".mypy_cache" / ("typing-plugin" if extra_config else "typing-plain")


def _copy(source: Path, workdir: Path) -> Path:
    """Check a copy outside the test package, so mypy names the module by its file."""
    target = workdir / source.name
    target.write_text(source.read_text())
    return target


def marks(name: str, pattern: re.Pattern[str]) -> dict[int, str]:
    """The text captured by `pattern` on each line of the file, by line number."""
    lines = (HERE / name).read_text().splitlines()
    found = {number: pattern.search(text) for number, text in enumerate(lines, start=1)}
    return {number: match.group(1) for number, match in found.items() if match is not None}


def test_good_usage_type_checks(reports: dict[str, list[Report]]) -> None:
    errors = [f"line {r.line}: {r.message}  [{r.code}]" for r in reports[GOOD] if r.severity == "error"]
    assert errors == []


@pytest.mark.parametrize("name", [WIRING, WIRING_ROOMS])
def test_wiring_usage_type_checks(reports: dict[str, list[Report]], name: str) -> None:
    errors = [f"line {r.line}: {r.message}  [{r.code}]" for r in reports[name] if r.severity == "error"]
    assert errors == []


@pytest.mark.parametrize("name", [GOOD, PLUGIN, WIRING])
def test_reveals_the_promised_types(reports: dict[str, list[Report]], name: str) -> None:
    promised = marks(name, _NOTE_MARK)
    assert len(promised) >= 9
    revealed = {r.line: r.message for r in reports[name] if r.severity == "note"}
    mismatches = [
        f"line {number}: promised {promised.get(number)!r}, mypy said {revealed.get(number)!r}"
        for number in sorted(promised.keys() | revealed.keys())
        if promised.get(number) != revealed.get(number)
    ]
    assert mismatches == []


@pytest.mark.parametrize("name", [PLANTED, GAPS, PLUGIN, ROOMS])
def test_errors_exactly_where_marked(reports: dict[str, list[Report]], name: str) -> None:
    marked = {number: set(codes.split(", ")) for number, codes in marks(name, _ERROR_MARK).items()}
    assert len(marked) >= (12 if name == PLANTED else 1)
    found: dict[int, set[str]] = defaultdict(set)
    messages: dict[int, list[str]] = defaultdict(list)
    for r in reports[name]:
        if r.severity == "error":
            found[r.line].add(r.code or "(no code)")
            messages[r.line].append(r.message)
    mismatches = [
        f"line {number}: marked {sorted(marked.get(number, ()))}, mypy said {sorted(found[number])} {messages[number]}"
        for number in sorted(marked.keys() | found.keys())
        if marked.get(number, set()) != found[number]
    ]
    assert mismatches == []


def message_marks(name: str) -> set[tuple[int, str, str]]:
    lines = (HERE / name).read_text().splitlines()
    return {
        (number, match["code"], match["message"])
        for number, text in enumerate(lines, start=1)
        for match in _MESSAGE_MARK.finditer(text)
    }


@pytest.mark.parametrize("name", MISTAKES)
def test_each_wiring_mistake_is_reported_with_its_message(reports: dict[str, list[Report]], name: str) -> None:
    marked = message_marks(name)
    assert len(marked) >= 3
    found = {(r.line, r.code or "(no code)", r.message) for r in reports[name] if r.severity == "error"}
    assert sorted(found - marked) == [], "errors nobody marked"
    assert sorted(marked - found) == [], "marked errors mypy did not report"


def test_at_least_fifteen_wiring_mistakes_are_planted() -> None:
    assert sum(len(message_marks(name)) for name in MISTAKES) >= 15
