"""The digest when something goes wrong with one subscriber or with the mail server
(issue #12, defects 8 and 9), on SQLite and PostgreSQL, with the real smtplib against
aiosmtpd on loopback and the real command line.

* A run whose lease ran out, and whose rows another run took over and sent, cannot mark
  them failed when its own mail server then fails: nobody gets the week twice.
* When the server cannot be reached, the digest being sent fails; the rest of the batch
  is given back untried, its attempts not counted.
* An address is validated when it is added; one the mail server cannot take (a non-ASCII
  local part without SMTPUTF8) fails alone, with its reason in ``herald subscribers list``,
  and everyone after it still gets their digest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.digest import DigestJob
from tests.fakes.smtp_server import FakeSmtp, running_smtp_server
from tests.test_digest import (
    AUG17,
    CLI_TIMEOUT,
    COACHEE,
    EVERYONE,
    IE,
    KEY,
    LC,
    LEARNER,
    SENT_AT,
    MakeHerald,
    cli_workspace,
    digest_rows,
    heralds,
    ingest_sample,
    smtp,
    subscribe,
)

__all__ = ["heralds", "smtp"]  # fixtures shared with tests/test_digest.py


@pytest.fixture
def dead_smtp_url() -> str:
    """The URL of an SMTP server that has gone: nothing listens on its port any more."""
    with running_smtp_server() as gone:
        port = gone.port
    return f"smtp://127.0.0.1:{port}?starttls=off"


# ===================================================================== defect 8

class StalledThenUnreachable:
    """The real sender of a run that stalls before its first message for longer than its
    lease (meanwhile ``meanwhile`` runs), then finds its mail server unreachable."""

    def __init__(self, real: Any, meanwhile: Any) -> None:
        self.real = real
        self.meanwhile = meanwhile

    def __enter__(self) -> StalledThenUnreachable:
        self.real.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.real.__exit__(*exc)

    def send(self, message: EmailMessage) -> str:
        if self.meanwhile is not None:
            self.meanwhile()
            self.meanwhile = None
        return str(self.real.send(message))


def test_a_run_that_lost_its_lease_cannot_fail_the_digests_another_run_sent(
        db_url: str, tmp_path: Path, heralds: MakeHerald, smtp: FakeSmtp,
        dead_smtp_url: str) -> None:
    clock = FixedClock(SENT_AT)
    stalled = heralds(tmp_path, clock, db_url=db_url, smtp_url=dead_smtp_url)
    healthy = heralds(tmp_path, clock, db_url=db_url, smtp_url=smtp.url(query="starttls=off"))
    assert stalled.owner != healthy.owner
    ingest_sample(stalled)
    subscribe(stalled, (COACHEE, [IE]), (EVERYONE, None), (LEARNER, [LC]))
    lease = stalled.settings.config.worker.lease
    taken_over: list[Any] = []

    def the_other_run_takes_over() -> None:
        clock.advance(seconds=lease.total_seconds() + 1)
        taken_over.append(DigestJob(healthy).run(AUG17, clock.now()))

    class StallingJob(DigestJob):
        def sender(self) -> Any:
            return StalledThenUnreachable(super().sender(), the_other_run_takes_over)

    stopped = StallingJob(stalled).run(AUG17, SENT_AT)
    assert taken_over[0].sent == 3
    rows = digest_rows(healthy)
    assert {a: r.status for a, r in rows.items()} == dict.fromkeys(rows, "sent")
    assert all(r.last_error is None for r in rows.values())

    # Later runs, of either worker, send nothing more: each subscriber got the week once.
    clock.advance(hours=1)
    DigestJob(healthy).run(AUG17, clock.now())
    clock.advance(days=1)
    DigestJob(healthy).run(AUG17, clock.now())
    for address in (COACHEE, EVERYONE, LEARNER):
        assert len(smtp.to(address)) == 1, address
    # The stalled run changed nothing, and counted nothing as its own.
    assert (stopped.sent, stopped.failed, stopped.deferred) == (0, 0, 0)


def test_an_unreachable_server_fails_one_digest_and_gives_the_rest_back_uncounted(
        db_url: str, tmp_path: Path, heralds: MakeHerald, smtp: FakeSmtp,
        dead_smtp_url: str) -> None:
    clock = FixedClock(SENT_AT)
    down = heralds(tmp_path, clock, db_url=db_url, smtp_url=dead_smtp_url)
    ingest_sample(down)
    subscribe(down, (COACHEE, [IE]), (EVERYONE, None), (LEARNER, [LC]))

    stats = DigestJob(down).run(AUG17, clock.now())
    rows = sorted(digest_rows(down).values(), key=lambda r: r.id)
    tried, *rest = rows
    assert (tried.status, tried.attempts) == ("failed", 1)
    assert "cannot reach" in (tried.last_error or "")
    # Never tried: back to pending, the claim's attempt not counted, no error of theirs.
    assert [(r.status, r.attempts, r.last_error) for r in rest] == [("pending", 0, None)] * 2
    assert (stats.sent, stats.failed, stats.deferred) == (0, 1, 2)
    assert stats.errors and "stopped the batch" in stats.errors[0]

    # Nothing is due before the connection retry; then all three go, once each.
    assert DigestJob(down).run(AUG17, clock.now()).failed == 0
    clock.advance(minutes=16)
    up = heralds(tmp_path, clock, db_url=db_url, smtp_url=smtp.url(query="starttls=off"))
    assert DigestJob(up).run(AUG17, clock.now()).sent == 3
    for address in (COACHEE, EVERYONE, LEARNER):
        assert len(smtp.to(address)) == 1, address
    assert {r.status for r in digest_rows(up).values()} == {"sent"}


# ===================================================================== defect 9

AMY = "amy@example.org"
MAELLE = "maëlle@example.org"  # a non-ASCII local part: needs SMTPUTF8
ZACK = "zack@example.org"
IAN = "ian@bücher.example.org"  # an IDN domain only: goes as xn-- without SMTPUTF8
IAN_ASCII = "ian@xn--bcher-kva.example.org"


def run_cli(cwd: Path, env: dict[str, str], *args: str | Path,
            code: int | None = 0) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("HERALD_CONFIG", "DATABASE_URL", "SMTP_URL", "HERALD_SECRET_KEY")}
    result = subprocess.run([sys.executable, "-m", "bot", *map(str, args)], cwd=cwd,
                            env={**base, **env}, capture_output=True, text=True,
                            encoding="utf-8", timeout=CLI_TIMEOUT)
    if code is not None:
        assert result.returncode == code, (
            f"exit {result.returncode}, expected {code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


@pytest.fixture
def plain_smtp() -> Iterator[FakeSmtp]:
    """A mail server whose EHLO does not offer SMTPUTF8."""
    with running_smtp_server(smtputf8=False) as fake:
        yield fake


@pytest.mark.slow
def test_an_address_the_server_cannot_take_fails_alone_and_the_batch_goes_on(
        db_url: str, tmp_path: Path, plain_smtp: FakeSmtp) -> None:
    config = cli_workspace(tmp_path)
    env = {"DATABASE_URL": db_url, "HERALD_SECRET_KEY": KEY,
           "SMTP_URL": plain_smtp.url(query="starttls=off")}
    run_cli(tmp_path, env, "run", "--once", "--config", config)
    for address in (AMY, MAELLE, ZACK, IAN):
        added = run_cli(tmp_path, env, "subscribers", "add", address, "--config", config)
        assert address in added.stdout

    sent = run_cli(tmp_path, env, "digest", "send", "--period", "current", "--config",
                   config, code=4)  # a digest failed (README, "Exit codes")
    text = " ".join(sent.stdout.split())
    assert "Traceback" not in sent.stderr and "UnicodeEncodeError" not in sent.stderr
    assert "3 sent, 0 with nothing new, 1 failed" in text, text
    assert MAELLE in text and "SMTPUTF8" in text
    # Everyone else, before and after the address in the batch, got their digest.
    assert sorted(r for m in plain_smtp.messages for r in m.rcpt_tos) == sorted(
        [AMY, ZACK, IAN_ASCII])
    assert plain_smtp.to(IAN_ASCII)[0].parsed()["To"] == IAN_ASCII

    listed = {s["email"]: s for s in json.loads(run_cli(
        tmp_path, env, "subscribers", "list", "--json", "--config", config).stdout)}
    assert listed[MAELLE]["last_digest"]["status"] == "dead"
    assert "SMTPUTF8" in listed[MAELLE]["last_digest"]["error"]
    assert listed[AMY]["last_digest"] == {"period": listed[AMY]["last_digest"]["period"],
                                          "status": "sent", "error": None}
    table = " ".join(run_cli(tmp_path, env, "subscribers", "list", "--config",
                             config).stdout.split())
    assert "SMTPUTF8" in table and "dead" in table

    # Sending again sends nobody anything twice, and the refused address stays refused.
    again = run_cli(tmp_path, env, "digest", "send", "--period", "current", "--config",
                    config)
    assert "0 sent" in " ".join(again.stdout.split())
    assert len(plain_smtp.messages) == 3
    # Adding such an address says what it needs.
    assert "SMTPUTF8" in " ".join(run_cli(tmp_path, env, "subscribers", "add", MAELLE,
                                          "--config", config).stdout.split())


def test_a_non_ascii_address_gets_its_digest_from_a_server_with_smtputf8(
        db_url: str, tmp_path: Path, heralds: MakeHerald, smtp: FakeSmtp) -> None:
    herald = heralds(tmp_path, FixedClock(SENT_AT), db_url=db_url,
                     smtp_url=smtp.url(query="starttls=off"))
    ingest_sample(herald)
    subs = subscribe(herald, (AMY, None), (" Maëlle@EXAMPLE.org ", None), (ZACK, None))
    assert subs[" Maëlle@EXAMPLE.org "].email == "Maëlle@example.org"
    stats = DigestJob(herald).run(AUG17, SENT_AT)
    assert (stats.sent, stats.failed) == (3, 0), stats.errors
    [received] = smtp.to("Maëlle@example.org")
    assert received.parsed()["To"] == "Maëlle@example.org"
    assert len(smtp.to(AMY)) == len(smtp.to(ZACK)) == 1


NOT_ADDRESSES = ["someone@exa..mple.org", "some one@example.org", "someone@example",
                 "someone@localhost", "some..one@example.org", "someone@-example.org"]


@pytest.mark.slow
def test_cli_refuses_what_is_not_an_email_address(tmp_path: Path) -> None:
    config = cli_workspace(tmp_path)
    for text in NOT_ADDRESSES:
        refused = run_cli(tmp_path, {}, "subscribers", "add", text, "--config", config,
                          code=1)
        assert "not an email address" in " ".join(refused.stderr.split()), text
        assert "Traceback" not in refused.stderr
    listed = json.loads(run_cli(tmp_path, {}, "subscribers", "list", "--json", "--config",
                                config).stdout)
    assert listed == []


def test_store_and_web_subscribe_refuse_what_is_not_an_email_address(dbweb: Any) -> None:
    from bot.errors import StoreError
    from tests.web_helpers import form_csrf

    for text in NOT_ADDRESSES:
        with pytest.raises(StoreError, match="not an email address"):
            dbweb.store.add_subscriber(text, domains=None, now=dbweb.clock.now())
    client = dbweb.client()
    # (Three: the form's rate limit counts refused requests too.)
    for text in ("someone@exa..mple.org", "some..one@example.org", "someone@-example.org"):
        page = client.get("/subscribe")
        r = client.post("/subscribe", data={"csrf": form_csrf(page.text), "email": text,
                                            "domains": ["learning-capacity"]})
        assert r.status_code == 422, text
        assert "not an email address" in r.text
    assert dbweb.store.list_subscribers() == []
