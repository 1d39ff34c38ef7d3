"""The scheduled worker (``herald run``): APScheduler runs collect and dispatch on their
intervals in this process until SIGINT or SIGTERM.

Each source keeps its own interval through its ``next_poll_at`` (which also
carries its error backoff); the collect job wakes every ``worker.collect_tick``
and polls the ones that are due. The dispatch job sends the outbox every
``worker.dispatch_every``, and the outmail job sends the web app's emails
(confirmations, ``bot.outmail``: the web app never sends) as often. The digest
job runs at ``[digest] schedule``, at start (to catch up a tick missed while down,
within a day), and every 15 minutes to retry failed sends of the period. On a stop
signal the jobs finish the send in hand, give back claims they had not started, and the
process exits 0: a fetch under way ends within a fraction of a second
(bot.sources.deadline), however slowly its server sends.

Besides its heartbeat, the worker records when it last finished a collect cycle
(``heartbeats.collected_at``): /healthz reports a collector that has not finished one
within ``[web] collector_stale``, though the worker still beats.

Each job runs one at a time, and a tick that comes while the job is still running is
skipped in silence (one line says when a job outruns its interval, and one when it ends),
rather than through APScheduler's "maximum number of running instances reached" warning
every tick; a tick the scheduler could only start late (the machine slept) still runs,
once, rather than being dropped with "was missed by 0:02:10.297289".

A job that meets a database error (PostgreSQL restarted, the network cut, SQLite
still locked after its busy timeout) logs one line saying so and ends that run; the
next tick tries again on a fresh connection (``pool_pre_ping`` on PostgreSQL). Nothing
is lost meanwhile: a poll whose items were not stored is read again, and a delivery
whose send was not recorded comes back when its lease runs out.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import DBAPIError

from bot.app import Herald
from bot.config import WEEKDAYS, parse_schedule
from bot.durations import humanize
from bot.progress import SILENT, Progress
from bot.urls import redact_url

log = logging.getLogger("herald.worker")

#: How long after a digest tick a (re)started worker still sends that period's digests.
DIGEST_CATCH_UP = timedelta(days=1)
HEARTBEAT_EVERY = 15  # seconds
#: How long the failed sign-ins of an address that is not locked are remembered.
LOGIN_MEMORY = timedelta(days=1)


def database_trouble(exc: DBAPIError) -> str:
    """One line for a database error: its first line, with any password redacted."""
    detail = str(exc.orig or exc).strip().splitlines()
    return redact_url(detail[0] if detail else type(exc).__name__)


def guarded(name: str, job: Callable[[], None]) -> Callable[[], None]:
    """``job`` with database errors logged as one line rather than raised: the worker goes
    on, and the next tick of the job tries again. Other errors still reach APScheduler,
    which logs them with their traceback (a bug should be seen).

    One run at a time: a call while a run is under way returns at once; the first such
    call says so in one line (how long the run has taken so far), and the run's end says
    how long it took."""
    failing = threading.Event()
    running = threading.Lock()
    started = [0.0]
    overran = threading.Event()

    def run() -> None:
        if not running.acquire(blocking=False):
            if not overran.is_set():
                overran.set()
                log.info("%s still running after %s; skipping its ticks until it ends",
                         name, humanize(time.monotonic() - started[0]))
            return
        started[0] = time.monotonic()
        try:
            attempt()
        finally:
            if overran.is_set():
                overran.clear()
                log.info("%s finished in %s", name, humanize(time.monotonic() - started[0]))
            running.release()

    def attempt() -> None:
        try:
            job()
        except DBAPIError as exc:
            failing.set()
            log.warning("%s: database unavailable (%s); will try again at the next tick",
                        name, database_trouble(exc))
            return
        if failing.is_set():
            failing.clear()
            log.info("%s: database reachable again", name)

    return run


def _no_progress() -> AbstractContextManager[Progress]:
    from contextlib import nullcontext

    return nullcontext(SILENT)


def run_worker(herald: Herald, *, install_signals: bool = True,
               on_started: Callable[[], None] | None = None,
               on_prepared: Callable[[], None] | None = None,
               first_collection: Callable[[], AbstractContextManager[Progress]] | None = None
               ) -> None:
    """Run until ``herald.stop`` is set (by a signal or by the caller). ``on_prepared`` is
    called once the database is ready, before any job (the start-up summary);
    ``first_collection`` gives the progress of the first collect cycle (a bar on a
    terminal)."""
    herald.worker_lock.acquire()
    herald.prepare(migrate_in_child=True)
    if on_prepared:
        on_prepared()
    w = herald.settings.config.worker
    scheduler = BackgroundScheduler(
        # collect, dispatch, heartbeat, outmail and the digest's; a tick that finds its
        # job still running returns at once (guarded), so two instances are allowed for
        # that moment and APScheduler never skips a tick with a warning. A late tick
        # still runs (once: coalesce), however late.
        executors={"default": ThreadPoolExecutor(8)},
        job_defaults={"coalesce": True, "max_instances": 2, "misfire_grace_time": None},
        timezone=w.timezone)
    first = [first_collection]

    def collect() -> None:
        shown, first[0] = first[0], None
        with shown() if shown else _no_progress() as progress:
            stats = herald.collect(progress=progress)
        if not herald.stop.is_set():  # a cycle cut short by a stop did not finish
            herald.store.collected(herald.owner, herald.clock.now())
        if stats.polled:
            log.info("collect: %d polled, %d changed, %d errors, %d new items, %d new stories",
                     stats.polled, stats.changed, stats.errors, stats.ingest.new_items,
                     len(stats.ingest.new_stories))

    def dispatch() -> None:
        stats = herald.dispatch()
        if stats.sent or stats.failed or stats.dead:
            log.info("dispatch: %d sent, %d failed, %d dead", stats.sent, stats.failed,
                     stats.dead)

    def outmail() -> None:
        from bot.outmail import send_outmail

        stats = send_outmail(herald)
        if stats.sent or stats.failed or stats.dead:
            log.info("outmail: %d sent, %d failed, %d dead", stats.sent, stats.failed,
                     stats.dead)
        # Sign-in failures of addresses not tried for a day are forgotten.
        herald.store.forget_old_logins(herald.clock.now(), LOGIN_MEMORY)

    def heartbeat() -> None:
        # What /healthz reports: the age of the newest beat of any worker.
        try:
            herald.store.beat(herald.owner, herald.clock.now())
        except DBAPIError:
            raise  # guarded() says it in one line, like the other jobs
        except Exception as exc:  # nothing must stop the scheduler
            log.warning("heartbeat not recorded: %s", exc)

    # The start counts as a finished collect cycle: a worker has [web] collector_stale to
    # finish its first before /healthz reports its collector stuck.
    herald.store.collected(herald.owner, herald.clock.now())
    # A paused target is tried again at start: its secret usually comes with a restart.
    herald.store.probe_paused_now(herald.clock.now())
    now = datetime.now(scheduler.timezone)
    scheduler.add_job(guarded("heartbeat", heartbeat), "interval", seconds=HEARTBEAT_EVERY,
                      id="heartbeat", next_run_time=now)
    scheduler.add_job(guarded("collect", collect), "interval",
                      seconds=w.collect_tick.total_seconds(), id="collect", next_run_time=now)
    scheduler.add_job(guarded("dispatch", dispatch), "interval",
                      seconds=w.dispatch_every.total_seconds(), id="dispatch",
                      next_run_time=now)
    scheduler.add_job(guarded("outmail", outmail), "interval",
                      seconds=w.dispatch_every.total_seconds(), id="outmail",
                      next_run_time=now)
    digest_cfg = herald.settings.config.digest
    if digest_cfg.enabled:
        weekday, hour, minute = parse_schedule(digest_cfg.schedule)

        digest_running = threading.Lock()

        def digest_once() -> None:
            # Three jobs call this (tick, catch-up, retry): one run at a time.
            if not digest_running.acquire(blocking=False):
                return
            try:
                run_digest()
            finally:
                digest_running.release()

        digest = guarded("digest", digest_once)

        def run_digest() -> None:
            from bot.digest import DigestJob, last_complete_period

            at = herald.clock.now()
            period = last_complete_period(at, digest_cfg.schedule, digest_cfg.timezone)
            if at - period.end > DIGEST_CATCH_UP:
                return  # the worker was down for the whole window: do not send a stale week
            stats = DigestJob(herald).run(period, at)
            if stats.sent or stats.failed or stats.deferred:
                log.info("digest %s: %d sent, %d empty, %d failed, %d left for later",
                         period.key, stats.sent, stats.empty, stats.failed, stats.deferred)

        # At the tick, and once at start (a worker that was down at the tick catches up;
        # the digest table makes a second run for the same period send nothing).
        scheduler.add_job(digest, CronTrigger(day_of_week=WEEKDAYS[weekday], hour=hour,
                                              minute=minute, timezone=digest_cfg.timezone),
                          id="digest")
        scheduler.add_job(digest, id="digest-catch-up", next_run_time=now)
        scheduler.add_job(digest, "interval", minutes=15, id="digest-retry")

    previous: dict[signal.Signals, Any] = {}
    if install_signals and threading.current_thread() is threading.main_thread():
        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s, stopping", signal.Signals(signum).name)
            herald.stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handle)
    scheduler.start()
    log.info("worker %s started", herald.owner)
    if on_started:
        on_started()
    try:
        while not herald.stop.wait(0.5):
            pass
    finally:
        scheduler.shutdown(wait=True)  # the dispatcher gives back what it had not started
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        try:
            herald.store.forget_worker(herald.owner)
        except Exception:  # pragma: no cover - the database went away first
            pass
        log.info("worker %s stopped", herald.owner)
