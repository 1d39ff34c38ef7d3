"""The dispatcher: sends once, records failures with backoff, dies after N, survives crashes."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest

from bot.dispatch import Dispatcher
from bot.errors import PermanentSendError, RateLimited, TransientSendError
from bot.model import DeliveryStatus
from bot.retry import RetryPolicy
from bot.store import Store
from channels import ChannelContext
from channels.file import FileChannel, FileOptions
from tests.builders import item, routing
from tests.fakes.channels import RecordingChannel

POLICY = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(hours=1), max_attempts=3)


def dispatcher(store: Store, clock, channels, owner: str = "w1") -> Dispatcher:  # type: ignore[no-untyped-def]
    return Dispatcher(store, channels, clock=clock, policy=POLICY, owner=owner,
                      lease_seconds=300, sleep=lambda s: None)


def test_each_delivery_is_sent_once(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    rec = RecordingChannel("rec")
    store.ingest([item(1), item(2)], routing(("rec",)), clock.now())
    stats = dispatcher(store, clock, {"rec": rec}).run_once()
    assert stats.sent == 2 and len(rec.sent) == 2
    assert dispatcher(store, clock, {"rec": rec}).run_once().sent == 0
    assert {d.external_id for d in store.list_deliveries("sent")} == {
        f"rec-{d}" for d, _, _ in rec.sent}


def test_transient_failure_backs_off_then_dies(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    rec = RecordingChannel("rec")
    rec.failures = [TransientSendError("HTTP 503")] * 3
    store.ingest([item(1)], routing(("rec",)), clock.now())
    d = dispatcher(store, clock, {"rec": rec})
    assert d.run_once().failed == 1
    (failed,) = store.list_deliveries("failed")
    assert "HTTP 503" in failed.last_error and failed.attempts == 1
    assert failed.next_attempt_at > clock.now()
    assert d.run_once().sent == 0  # not due yet: no retry storm
    clock.advance(hours=2)
    assert d.run_once().failed == 1
    clock.advance(hours=2)
    stats = d.run_once()
    assert stats.dead == 1 and rec.sent == []
    (dead,) = store.list_deliveries("dead")
    assert dead.attempts == 3 and "HTTP 503" in dead.last_error


def test_permanent_failure_is_not_retried(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    rec = RecordingChannel("rec")
    rec.failures = [PermanentSendError("channel_not_found")]
    store.ingest([item(1)], routing(("rec",)), clock.now())
    assert dispatcher(store, clock, {"rec": rec}).run_once().dead == 1
    (dead,) = store.list_deliveries("dead")
    assert dead.attempts == 1 and "channel_not_found" in dead.last_error


def test_rate_limit_honours_retry_after(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    rec = RecordingChannel("rec")
    rec.failures = [RateLimited("429", retry_after=90)]
    store.ingest([item(1)], routing(("rec",)), clock.now())
    dispatcher(store, clock, {"rec": rec}).run_once()
    (waiting,) = store.list_deliveries("pending")
    wait = (waiting.next_attempt_at - clock.now()).total_seconds()
    assert 90 <= wait <= 91 and waiting.attempts == 0


def test_a_rate_limit_storm_never_makes_a_delivery_dead(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    """Defect 7: being told to wait (429) is not a failed attempt, however often it comes."""
    rec = RecordingChannel("rec")
    rec.failures = [RateLimited("429", retry_after=5)] * 30
    store.ingest([item(1)], routing(("rec",)), clock.now())
    for _ in range(30):
        dispatcher(store, clock, {"rec": rec}).run_once()
        clock.advance(seconds=10)
    assert store.list_deliveries("dead") == [] and store.list_deliveries("failed") == []
    dispatcher(store, clock, {"rec": rec}).run_once()
    (sent,) = store.list_deliveries("sent")
    assert sent.attempts == 1 and len(rec.sent) == 1


def test_one_failing_target_does_not_stop_another(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    bad, good = RecordingChannel("bad"), RecordingChannel("good")
    bad.failures = [TransientSendError("down")] * 5
    store.ingest([item(1), item(2)], routing(("bad", "good")), clock.now())
    stats = dispatcher(store, clock, {"bad": bad, "good": good}).run_once()
    assert stats.sent == 2 and stats.failed == 2 and len(good.sent) == 2


def test_a_channel_bug_is_recorded_not_raised(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    rec = RecordingChannel("rec")
    rec.failures = [KeyError("oops")]
    store.ingest([item(1)], routing(("rec",)), clock.now())
    stats = dispatcher(store, clock, {"rec": rec}).run_once()
    assert stats.failed == 1
    assert "KeyError" in store.list_deliveries("failed")[0].last_error


def test_crash_between_send_and_commit_is_reclaimed_with_flag(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    rec = RecordingChannel("rec")
    rec.crash_after_send = True
    store.ingest([item(1)], routing(("rec",)), clock.now())
    with pytest.raises(SystemExit):
        dispatcher(store, clock, {"rec": rec}, owner="dies").run_once()
    (stuck,) = store.list_deliveries("in_flight")
    assert stuck.attempts == 1
    rec.crash_after_send = False
    d2 = dispatcher(store, clock, {"rec": rec}, owner="w2")
    assert d2.run_once().sent == 0  # lease still held by the dead worker
    clock.advance(minutes=6)
    assert d2.run_once().sent == 1
    # The channel was told it is a re-send, so a channel that can look (Slack) checks first.
    assert [flag for _, _, flag in rec.sent] == [False, True]


def test_file_channel_writes_one_file_per_delivery(store: Store, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctx = ChannelContext(outbox_dir=tmp_path / "outbox")
    files = FileChannel("files", FileOptions(), ctx)
    store.ingest([item(1), item(2)], routing(("files",)), clock.now())
    assert dispatcher(store, clock, {"files": files}).run_once().sent == 2
    written = sorted((tmp_path / "outbox" / "files").glob("*.json"))
    assert len(written) == 2
    doc = json.loads(written[0].read_text())
    assert doc["payload"]["title"].startswith("Announcement ")
    assert {t["group"] for t in doc["payload"]["tags"]} >= {"kind"}
    assert not list((tmp_path / "outbox" / "files").glob(".tmp-*"))


def test_file_channel_disk_error_marks_nothing_sent(store: Store, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the outbox folder should be")
    files = FileChannel("files", FileOptions(), ChannelContext(outbox_dir=blocker))
    store.ingest([item(1)], routing(("files",)), clock.now())
    stats = dispatcher(store, clock, {"files": files}).run_once()
    assert stats.sent == 0 and stats.failed == 1
    (failed,) = store.list_deliveries("failed")
    assert "cannot write" in failed.last_error
    assert store.list_deliveries("sent") == []


def test_stop_releases_unstarted_claims(store: Store, clock) -> None:  # type: ignore[no-untyped-def]
    rec = RecordingChannel("rec")
    store.ingest([item(n) for n in range(1, 6)], routing(("rec",)), clock.now())
    d = dispatcher(store, clock, {"rec": rec})
    original = rec.send

    def send_then_stop(payload, *, delivery, reclaimed=False):  # type: ignore[no-untyped-def]
        result = original(payload, delivery=delivery, reclaimed=reclaimed)
        d.stop.set()
        return result

    rec.send = send_then_stop  # type: ignore[method-assign]
    stats = d.run_once()
    assert stats.sent == 1
    statuses = sorted(x.status.value for x in store.list_deliveries())
    assert statuses == ["pending"] * 4 + ["sent"]


def test_retry_policy_is_exponential_capped_and_jittered() -> None:
    rng = random.Random(7)
    policy = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=100),
                         max_attempts=10)
    delays = [policy.backoff(n, rng).total_seconds() for n in range(1, 9)]
    for n, delay in enumerate(delays, start=1):
        full = min(100, 10 * 2 ** (n - 1))
        assert full / 2 <= delay <= full
    assert max(delays) <= 100
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert policy.decide(PermanentSendError("x"), 1, now) is None
    assert policy.decide(TransientSendError("x"), 10, now) is None
    assert policy.decide(TransientSendError("x"), 9, now) > now


def test_statuses_are_the_documented_ones() -> None:
    assert [s.value for s in DeliveryStatus] == ["pending", "in_flight", "sent", "failed",
                                                 "dead", "retracted", "left"]
