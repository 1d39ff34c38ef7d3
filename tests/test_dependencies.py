"""Dependencies: every requirement in pyproject.toml has a lower and an upper bound, and
pip-audit finds no known vulnerability in the installed environment.

pip-audit asks PyPI's JSON API about each installed version; where that cannot be
reached the audit test skips and says so (the bounds test never needs the network)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

AUDIT_TIMEOUT = 300
#: Requirements left without an upper bound on purpose, with the reason.
OPEN_ENDED = {"tzdata": "time zone data must be the newest; its versions are years"}


def requirements() -> list[tuple[str, Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = [("dependencies", Requirement(r)) for r in project["dependencies"]]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        found += [(f"optional-dependencies.{extra}", Requirement(r)) for r in reqs]
    return found


@pytest.mark.parametrize(("where", "req"), requirements(),
                         ids=[f"{w}:{r.name}" for w, r in requirements()])
def test_every_dependency_has_a_lower_and_an_upper_bound(where: str, req: Requirement
                                                         ) -> None:
    operators = {s.operator for s in req.specifier}
    assert operators & {">=", ">", "==", "~="}, f"{where}: {req} has no lower bound"
    if req.name not in OPEN_ENDED:
        assert operators & {"<", "<=", "==", "~="}, f"{where}: {req} has no upper bound"


def test_the_test_extra_has_the_tools_ci_runs() -> None:
    test_extra = {r.name for w, r in requirements() if w == "optional-dependencies.test"}
    assert {"pytest", "ruff", "mypy", "pip-audit"} <= test_extra


@pytest.mark.slow
def test_pip_audit_finds_no_known_vulnerability() -> None:
    pytest.importorskip("pip_audit", reason="pip-audit is not installed (it is in the "
                                            "test extra: pip install -e '.[test]')")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pip_audit", "--skip-editable", "--progress-spinner",
             "off", "--format", "json"], capture_output=True, text=True,
            timeout=AUDIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip-audit did not finish within {AUDIT_TIMEOUT} s (network?)")
    if not result.stdout.strip():
        pytest.skip(f"pip-audit could not run: {result.stderr.strip()[-500:]}")
    report: dict[str, Any] = json.loads(result.stdout)
    deps = report["dependencies"]
    vulnerable = {f"{d['name']} {d['version']}": [v["id"] for v in d["vulns"]]
                  for d in deps if d.get("vulns")}
    assert vulnerable == {}, f"known vulnerabilities: {vulnerable}"
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        first = next((d["skip_reason"] for d in deps if "skip_reason" in d), "nothing found")
        pytest.skip(f"pip-audit got no vulnerability data for any of the {len(deps)} "
                    f"installed packages: PyPI's JSON API and OSV are not reachable from "
                    f"here (first: {first})")
    assert len(audited) >= len(deps) // 2, [d for d in deps if "skip_reason" in d][:5]
