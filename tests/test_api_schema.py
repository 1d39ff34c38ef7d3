"""schemathesis against /api: every operation in /api/openapi.json, called by a signed-in
approver (session cookie and X-CSRF-Token), answers without a 5xx, as its schema says, and
every error is JSON with an "error" key. Bounded: few examples per operation, derandomized,
no deadline; the app runs in-process (ASGI), on a FixedClock, on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.clock import FixedClock
from tests.web_helpers import APPROVER, COOKIE, EDITOR, Web, make_web, session_token

pytestmark = pytest.mark.slow

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Academy news</title><link>https://academy.example.org/</link>
<description>News</description>
<item><title>Coaching for new directors</title><link>https://academy.example.org/news/1</link>
<guid>news-1</guid><pubDate>Tue, 18 Aug 2026 09:00:00 GMT</pubDate>
<description>Our one-to-one coaching offer for directors new in post.</description></item>
</channel></rss>"""


@pytest.fixture(scope="module")
def api_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    from datetime import UTC, datetime

    tmp_path = tmp_path_factory.mktemp("api")
    (tmp_path / "news.xml").write_text(FEED)
    web = make_web(tmp_path, FixedClock(datetime(2026, 8, 20, 9, 0, tzinfo=UTC)),
                   sources=[{"name": "news", "url": str(tmp_path / "news.xml")}])
    web.herald.collect(all_enabled=True)
    # Something to find at small ids: a story (1), and announcements in a few states.
    ed = web.staff(EDITOR)
    for n in range(3):
        web.compose(ed, title=f"Announcement {n}")
    web.store.submit_announcement(1, web.clock.now())
    yield web
    web.close()


@pytest.fixture(scope="module")
def approver(api_web: Web) -> dict[str, str]:
    """The headers a signed-in approver's API client sends."""
    staff = api_web.staff(APPROVER)
    token = session_token(staff.client)
    assert token
    return {"Cookie": f"{COOKIE}={token}", "X-CSRF-Token": staff.csrf}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
BOUNDS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))


# schemathesis' own pytest integration (schema.parametrize / from_fixture) does not run on
# pytest 9 (it sets Function._nodeid); each operation's strategy is driven here instead.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid-input", "invalid-input"])
def test_api_conforms_and_never_fails(api_web: Web, approver: dict[str, str],
                                      mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", api_web.app, headers=approver)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    seen: dict[str, set[int]] = {}

    def check_operation(operation: Any) -> None:
        label = f"{operation.method.upper()} {operation.path}"

        @BOUNDS
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = case.call_and_validate(headers=approver, checks=CHECKS)
            seen.setdefault(label, set()).add(response.status_code)
            if response.status_code >= 400:
                body = response.json()
                assert isinstance(body, dict), (label, body)
                assert isinstance(body.get("error"), str) and body["error"], (label, body)
            if mode is GenerationMode.NEGATIVE:
                assert response.status_code < 500

        try:
            run()
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (no parameters, no body).
            assert mode is GenerationMode.NEGATIVE, label
            seen.setdefault(label, set())

    for operation in operations:
        check_operation(operation)
    assert len(seen) == len(operations)
    if mode is GenerationMode.POSITIVE:
        # Not a vacuous run: signed in, the reads succeeded.
        assert 200 in seen["GET /api/session"] and 200 in seen["GET /api/announcements"]


def test_the_schema_covers_the_api(api_web: Web, approver: dict[str, str]) -> None:
    c = api_web.client()
    signed_out = c.get("/api/openapi.json")
    assert signed_out.status_code == 401 and signed_out.json() == {"error": "sign in first"}
    spec = c.get("/api/openapi.json", headers=approver).json()
    paths = set(spec["paths"])
    assert {"/api/session", "/api/announcements", "/api/announcements/{ann_id}",
            "/api/announcements/{ann_id}/approve", "/api/announcements/{ann_id}/return",
            "/api/announcements/{ann_id}/cancel", "/api/deliveries/{delivery_id}/retry",
            "/api/stories", "/api/stories/{story_id}", "/api/stories/{story_id}/hold",
            "/api/stories/{story_id}/tags"} <= paths
    assert all(p.startswith("/api/") for p in paths)  # the pages are not in it
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for code in ("401", "403", "404", "422"):
                schema_ = op["responses"][code]["content"]["application/json"]["schema"]
                assert schema_["required"] == ["error"], (method, path, code)


@pytest.mark.parametrize("path", ["/api/announcements/99999999999999999999",
                                  "/api/stories/99999999999999999999",
                                  "/api/stories/2147483648", "/api/stories/-1",
                                  "/api/announcements/0", "/queue/99999999999999999999",
                                  "/stories/9223372036854775808"])
def test_out_of_range_ids_are_422_not_500(api_web: Web, path: str,
                                          approver: dict[str, str]) -> None:
    r = api_web.client().get(path, headers=approver)
    assert r.status_code == 422
    if path.startswith("/api/"):
        assert "error" in r.json()
    else:  # a page answers with a page
        assert r.headers["content-type"].startswith("text/html")
        assert "That address is not valid" in r.text


def test_unknown_api_paths_and_methods_are_json(api_web: Web,
                                                approver: dict[str, str]) -> None:
    c = api_web.client()
    r = c.get("/api/nothing-here", headers=approver)
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}
    r = c.delete("/api/announcements/1", headers=approver)
    assert r.status_code == 405 and "error" in r.json()
    r = c.post("/api/announcements", headers={**approver, "Content-Type": "application/json"},
               content=b"{not json")
    assert r.status_code == 422 and "error" in r.json()


def test_schemathesis_found_the_fixture_data(api_web: Web, approver: dict[str, str]) -> None:
    # Guard against a vacuous run: the signed-in headers work.
    r = api_web.client().get("/api/session", headers=approver)
    assert r.status_code == 200 and r.json()["role"] == "approver"
    assert Path(api_web.tmp_path).exists()
