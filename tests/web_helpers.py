"""Building the web app in tests: a Herald on a FixedClock, staff accounts, signed-in clients.

``make_web(tmp_path, clock, ...)`` returns a ``Web``: the Herald, the FastAPI app and a few
helpers. ``web.staff(email)`` signs a fresh TestClient in through the real /login form and
returns it with the session's CSRF token. Clients talk to ``https://testserver`` because
the session cookie is Secure and ``__Host-`` prefixed. Everything stays on loopback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.app import Herald
from bot.clock import FixedClock
from bot.passwords import hash_password
from bot.web import WebContext, create_app
from tests.conftest import make_settings

PASSWORD = "correct horse battery staple"
BASE = "https://testserver"
COOKIE = "__Host-herald"
EDITOR = "ed@example.org"
EDITOR2 = "eve@example.org"
APPROVER = "ap@example.org"
APPROVER2 = "al@example.org"
ADMIN = "ad@example.org"
ROLES = {EDITOR: "editor", EDITOR2: "editor", APPROVER: "approver", APPROVER2: "approver",
         ADMIN: "admin"}

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
# One hash for every test account: argon2 is slow on purpose.
_HASH: list[str] = []


def password_hash() -> str:
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


def form_csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf field in the page"
    return found.group(1)


@dataclass
class Staff:
    """A signed-in client and its session's CSRF token."""

    client: TestClient
    csrf: str
    email: str

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        body = {"csrf": self.csrf, **(data or {})}
        kwargs.setdefault("follow_redirects", False)
        return self.client.post(url, data=body, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("follow_redirects", False)
        return self.client.get(url, **kwargs)

    def api(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)


@dataclass
class Web:
    herald: Herald
    app: FastAPI
    clock: FixedClock
    tmp_path: Path
    clients: list[TestClient] = field(default_factory=list)

    @property
    def ctx(self) -> WebContext:
        return self.app.state.ctx  # type: ignore[no-any-return]

    @property
    def store(self) -> Any:
        return self.herald.store

    def client(self, **kwargs: Any) -> TestClient:
        c = TestClient(self.app, base_url=BASE, **kwargs)
        self.clients.append(c)
        return c

    def login_token(self, client: TestClient) -> str:
        return form_csrf(client.get("/login").text)

    def sign_in(self, client: TestClient, email: str, password: str = PASSWORD,
                next_: str = "/queue") -> Any:
        return client.post("/login", data={"csrf": self.login_token(client), "email": email,
                                           "password": password, "next": next_},
                           follow_redirects=False)

    def staff(self, email: str) -> Staff:
        c = self.client()
        r = self.sign_in(c, email)
        assert r.status_code == 303, r.text
        return Staff(c, form_csrf(c.get("/queue").text), email)

    def compose(self, who: Staff, **fields: Any) -> int:
        """Create an announcement through the form; returns its id."""
        data = {"title": "Cohort 5 opens", "body": "Apply by **12 December 2026**.",
                "url": "https://academy.example.org/c5", "kind": "cohort-opening",
                "domains": ["learning-capacity"], "targets": ["files"], "when": "now"}
        data.update(fields)
        r = who.post("/queue/new", data)
        assert r.status_code == 303, r.text
        return int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.herald.close()


def make_web(tmp_path: Path, clock: FixedClock, *, db_url: str | None = None,
             web: dict[str, Any] | None = None, environ: dict[str, str] | None = None,
             **config: Any) -> Web:
    """A prepared Herald with the five test accounts, and its web app."""
    data: dict[str, Any] = {"web": web or {}}
    if db_url:
        data["database"] = {"url": db_url}
    data.update(config)
    settings = make_settings(tmp_path, data, environ={"HERALD_SECRET_KEY": "test-key-" + "x" * 40,
                                                      **(environ or {})})
    herald = Herald(settings, clock=clock)
    herald.prepare()
    now = clock.now()
    for email, role in ROLES.items():
        herald.store.add_user(email, role, password_hash(), now)
    return Web(herald, create_app(herald), clock, tmp_path)


def session_token(client: TestClient) -> str | None:
    """The session cookie's value in a client's jar (the last one set), if any."""
    found = [c.value for c in client.cookies.jar if c.name == COOKIE]
    return found[-1] if found else None


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app under a real uvicorn server in a thread, on a loopback port the system
    picks; yields its base URL (http: make the app with ``secure_cookies`` off to keep a
    session). Start and stop are bounded."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None: uvicorn's own logging config would give its loggers handlers of
    # their own and stop them propagating, for the rest of the test process (a later test
    # of Herald's access lines then saw nothing).
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           log_config=None, timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    give_up = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < give_up, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
