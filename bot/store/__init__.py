"""The store: Herald's state in SQLite (embedded default) or PostgreSQL.

``Store`` is one class built from per-domain mixins (``_sources``, ``_ingest``,
``_edits``, ``_outbox``, ``_stories``, ``_subscribers``, ``_targets`` (paused targets), and
for the web app ``_users``, ``_links`` (invitation and reset links), ``_logins``,
``_outmail``, ``_queue`` and ``_ops``; ``_reminders``: reminders before key dates), on
SQLAlchemy Core. Every method that changes state runs in one transaction; a story and its
deliveries are written together (the transactional outbox). Every datetime in or out is
aware UTC. Comms' edits with their history are ``_audit`` (collected stories) and ``_sent``
(announcements after they were sent).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from bot.errors import SchemaOutOfDate, StoreError
from bot.store import migrate
from bot.store._audit import AuditMixin
from bot.store._checkpoint import Checkpointer
from bot.store._edits import EditsMixin
from bot.store._ingest import IngestStats
from bot.store._links import AccountLink, LinksMixin, LinkUnusable
from bot.store._logins import LoginsMixin, LoginState
from bot.store._notices import Notice, NoticesMixin
from bot.store._ops import OpsMixin
from bot.store._outbox import OutboxMixin
from bot.store._outmail import OutMail, OutmailMixin
from bot.store._published import PublishedMixin
from bot.store._queue import Announcement, NotAllowed, QueueMixin
from bot.store._released import ReleasedMixin
from bot.store._reminders import RemindersMixin
from bot.store._sent import SentEditsMixin
from bot.store._sources import SourceRow, SourcesMixin
from bot.store._stories import StoriesMixin
from bot.store._subscribers import DigestRow, Subscriber, SubscribersMixin
from bot.store._targets import TargetPause, TargetsMixin
from bot.store._users import ROLES, LastAdmin, Session, User, UsersMixin

__all__ = ["ROLES", "AccountLink", "Announcement", "DigestRow", "IngestStats", "LastAdmin",
           "LinkUnusable", "LoginState", "NotAllowed", "Notice", "OutMail", "Session",
           "SourceRow", "Store", "Subscriber", "TargetPause", "User", "make_engine"]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    # An ingest writes its index terms all over the term index, one page per row once the
    # index is large. A bigger page cache (8 MiB, taken only as it is used) keeps more of
    # them; checkpoints run on a thread of their own (bot.store._checkpoint), and the
    # commit that crosses 50,000 pages in the log checkpoints only if that thread cannot
    # keep up (the log is cut back to 64 MiB after each): see bench/RESULTS.md, "Per-item
    # cost as stored stories grow".
    cur.execute("PRAGMA cache_size=-8192")
    cur.execute("PRAGMA wal_autocheckpoint=50000")
    cur.execute("PRAGMA journal_size_limit=67108864")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; creates the folder of a SQLite file and sets its pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class Store(SentEditsMixin, AuditMixin,  # comms' edits first: they extend the queue's and fixes'
            SourcesMixin, EditsMixin, OutboxMixin, StoriesMixin, SubscribersMixin, UsersMixin,
            LoginsMixin, OutmailMixin, QueueMixin, OpsMixin, ReleasedMixin, TargetsMixin,
            LinksMixin, NoticesMixin, RemindersMixin, PublishedMixin):
    """Herald's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._checkpointer: Checkpointer | None = None
        url = engine.url
        database = url.database if engine.dialect.name == "sqlite" else None
        if database and database != ":memory:" and url.query.get("mode") != "memory":
            self._checkpointer = Checkpointer(engine)
            self._checkpointer.start()

    @classmethod
    def open(cls, url: str, **kwargs: Any) -> Store:
        return cls(make_engine(url, **kwargs))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def schema_state(self) -> migrate.SchemaState:
        try:
            return migrate.schema_state(self.engine)
        except OperationalError as exc:
            raise StoreError(f"cannot reach the database: {exc.orig}") from exc

    def upgrade(self) -> None:
        """Apply every migration this database lacks."""
        migrate.upgrade(self.engine)

    def ensure_schema(self, *, in_child: bool = False) -> None:
        """Migrate an empty database; refuse one that is older or newer than this Herald.

        ``in_child``: migrate in a short-lived child process (``migrate.upgrade_in_child``),
        so that a long-lived worker never imports Alembic. Not for a database only this
        process can see (SQLite in memory), nor where Alembic is loaded already (nothing
        to save)."""
        state = self.schema_state()
        if state is migrate.SchemaState.EMPTY:
            if in_child and self._shared() and "alembic" not in sys.modules:
                migrate.upgrade_in_child(self.engine.url.render_as_string(hide_password=False))
            else:
                self.upgrade()
        elif state is migrate.SchemaState.OLDER:
            raise SchemaOutOfDate("the database schema is older than this version of Herald; "
                                  "run `herald db upgrade` first")
        elif state is migrate.SchemaState.NEWER:
            raise SchemaOutOfDate("the database was migrated by a newer Herald; upgrade Herald")
        elif state is migrate.SchemaState.FOREIGN:
            raise StoreError("the database has Herald-like tables but no migration record; "
                             "point DATABASE_URL at an empty database")

    def _shared(self) -> bool:
        """Whether another process reaches the same database through this engine's URL."""
        url = self.engine.url
        if self.dialect != "sqlite":
            return True
        database = url.database or ""
        return (database not in ("", ":memory:") and url.query.get("mode") != "memory"
                and "mode=memory" not in database)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
