"""Fill the table in SECURITY.md from test results.

SECURITY.md lists each fault and attack with the test that tries it (a pytest node id,
``tests/file.py::test_name``) between the markers ``<!-- results:start -->`` and
``<!-- results:end -->``. This script runs those tests with pytest's JUnit XML report
and writes each row's result (``pass``, ``pass (3 of 3)``, ``skipped: why``,
``FAIL``), with the date and commit above the table. Rows whose test cell is not a node
id (the web app's, "web app: see issue #5") are left as they are.

    python scripts/security_table.py            # run the tests, rewrite SECURITY.md
    python scripts/security_table.py --check    # only check that every named test exists

``--check`` is also what ``tests/test_security_doc.py`` does on every test run.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "SECURITY.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
NODE = re.compile(r"`(tests/[\w/]+\.py::\w+)`")
HEADER = "| Area | Fault or attack | Test | Result |"


@dataclass
class Row:
    area: str
    what: str
    test: str  # a node id in backticks, or a note such as "web app: see issue #5"
    result: str

    @property
    def node(self) -> str | None:
        found = NODE.fullmatch(self.test.strip())
        return found.group(1) if found else None

    def render(self) -> str:
        return f"| {self.area} | {self.what} | {self.test} | {self.result} |"


def split_doc(text: str) -> tuple[str, list[Row], str]:
    """The text before the table, its rows, and the text after it."""
    try:
        head, rest = text.split(START, 1)
        body, tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"{DOC.name} has no {START} … {END} section") from None
    rows = []
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or line.strip() == HEADER or set(line.strip()) <= set("|-: "):
            continue
        rows.append(Row(*cells))
    return head, rows, tail


def missing_tests(rows: list[Row], root: Path = ROOT) -> list[str]:
    """The node ids in ``rows`` whose file or test function does not exist."""
    problems = []
    defined: dict[Path, set[str]] = {}
    for row in rows:
        node = row.node
        if node is None:
            continue
        path_text, name = node.split("::")
        path = root / path_text
        if path not in defined:
            if not path.exists():
                defined[path] = set()
            else:
                tree = ast.parse(path.read_text(encoding="utf-8"))
                defined[path] = {n.name for n in ast.walk(tree)
                                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        if name not in defined[path]:
            problems.append(node)
    return problems


def run_tests(nodes: list[str]) -> dict[str, list[tuple[str, str]]]:
    """node id -> [(outcome, message)] for each of its cases (parameters), from JUnit XML."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"--junitxml={report}", *sorted(set(nodes))], cwd=ROOT, check=False)
        tree = ET.parse(report)
    results: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for case in tree.iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        name = case.get("name", "").split("[", 1)[0]
        outcome, message = "pass", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "FAIL", child.get("message", "")
            elif child.tag == "skipped":
                outcome, message = "skipped", child.get("message", "")
        results[f"{module}.py::{name}"].append((outcome, message))
    return results


def result_text(cases: list[tuple[str, str]]) -> str:
    if not cases:
        return "not run"
    outcomes = [o for o, _ in cases]
    if "FAIL" in outcomes:
        return f"**FAIL** ({outcomes.count('FAIL')} of {len(cases)})"
    if all(o == "skipped" for o in outcomes):
        reason = " ".join(cases[0][1].replace("|", "/").split())
        return f"skipped: {reason if len(reason) <= 160 else reason[:159] + '…'}"
    passed = outcomes.count("pass")
    text = "pass" if len(cases) == 1 else f"pass ({passed} of {len(cases)})"
    if passed < len(cases):
        text += f", {len(cases) - passed} skipped"
    return text


def fill(text: str, results: dict[str, list[tuple[str, str]]], stamp: str) -> str:
    head, rows, tail = split_doc(text)
    for row in rows:
        if row.node is not None:
            row.result = result_text(results.get(row.node, []))
    table = "\n".join([HEADER, "| --- | --- | --- | --- |", *(r.render() for r in rows)])
    return f"{head}{START}\n{stamp}\n\n{table}\n{END}{tail}"


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that every test named in SECURITY.md exists")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    _head, rows, _tail = split_doc(text)
    missing = missing_tests(rows)
    if missing:
        print("SECURITY.md names tests that do not exist:", *missing, sep="\n  ")
        return 1
    if args.check:
        print(f"{len(rows)} rows, every named test exists")
        return 0
    results = run_tests([r.node for r in rows if r.node])
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    stamp = (f"_Results filled by `python scripts/security_table.py` on {when}, "
             f"commit {commit()}, Python {sys.version_info.major}.{sys.version_info.minor}._")
    DOC.write_text(fill(text, results, stamp), encoding="utf-8")
    failed = [r.node for r in split_doc(DOC.read_text(encoding="utf-8"))[1]
              if "FAIL" in r.result]
    print(f"SECURITY.md: {len(rows)} rows written, {len(failed)} failing")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
