"""Helpers shared by the store's mixins: dialect-aware inserts, row converters."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, Row

from bot.model import Delivery, DeliveryStatus, Item, KeyDate, Link, RawRef
from bot.store.schema import deliveries


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key an INSERT of one row gave it."""
    key = result.inserted_primary_key
    if key is None:  # only for an INSERT that was not one row
        raise ValueError("the INSERT returned no primary key")
    return int(key[0])


def insert_ignore(conn: Connection, table: Table, rows: list[dict[str, Any]],
                  index: list[str]) -> int:
    """Insert rows, skipping those that clash on the unique ``index`` columns."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(rows).on_conflict_do_nothing(index_elements=index)
    # RETURNING counts what went in on every driver (rowcount does not, for this form).
    first_key = next(iter(table.primary_key.columns))
    return len(conn.execute(stmt.returning(first_key)).all())


def insert_many_ignore(conn: Connection, table: Table, rows: list[dict[str, Any]],
                       index: list[str]) -> None:
    """Insert rows in one executemany, skipping clashes; no count (cheaper to compile)."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).on_conflict_do_nothing(index_elements=index), rows)


def links_to_json(links: tuple[Link, ...]) -> str:
    return json.dumps([[lk.url, lk.expanded_url, lk.rel] for lk in links])


def links_from_json(text: str) -> tuple[Link, ...]:
    return tuple(Link(u, e, r) for u, e, r in json.loads(text or "[]"))


def date_row(story_id: int, kd: KeyDate) -> dict[str, Any]:
    """A ``story_dates`` row for a key date (every writer of the table goes through here)."""
    return {"story_id": story_id, "what": kd.what, "day": kd.date, "evidence": kd.evidence,
            "at_time": kd.at_time, "place": kd.place}


def row_to_date(row: Row[Any]) -> KeyDate:
    return KeyDate(row.what, row.day, row.evidence, row.at_time, row.place)


def row_to_item(row: Row[Any]) -> Item:
    m = row._mapping
    return Item(source=m["source"], source_item_id=m["source_item_id"], url=m["url"],
                canonical_url=m["canonical_url"], title=m["title"], text=m["text"],
                html=m["html"], author=m["author"], published_at=m["published_at"],
                collected_at=m["collected_at"], links=links_from_json(m["links"]),
                source_kind=m["source_kind"],
                raw=RawRef(m["raw_type"], m["raw"]) if m["raw_type"] else None,
                # make_item gives an undated entry its collect time (see Item.dated).
                dated=m["published_at"] != m["collected_at"])


def row_to_delivery(row: Row[Any]) -> Delivery:
    m = row._mapping
    return Delivery(id=m["id"], story_id=m["story_id"], target=m["target"],
                    status=DeliveryStatus(m["status"]), attempts=m["attempts"],
                    next_attempt_at=m["next_attempt_at"], lease_until=m["lease_until"],
                    external_id=m["external_id"], last_error=m["last_error"],
                    created_at=m["created_at"], sent_at=m["sent_at"],
                    release_at=m["release_at"], retract=bool(m["retract"]),
                    sent_revision=m["sent_revision"], correction=m.get("correction"),
                    permalink=m.get("permalink"))


def wake_sent(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """After a story's revision rose: its sent deliveries that are behind it (``rows``:
    ``sid``, ``revision``, ``now``) become due, so the claim looks at them. A sent delivery
    at rest has no ``next_attempt_at``; the claim reads only sent rows that have one (the
    index on status and next_attempt_at), not every message ever sent. A row already due
    later (an edit's retry) keeps its time."""
    if not rows:
        return
    c = deliveries.c
    conn.execute(update(deliveries).where(
        c.story_id == bindparam("sid"), c.status == DeliveryStatus.SENT.value,
        c.next_attempt_at.is_(None), c.sent_revision < bindparam("revision"),
    ).values(next_attempt_at=bindparam("now", type_=c.next_attempt_at.type)), rows)
