"""Subscribers as CSV: the export admins download and the import they upload.

Columns: ``email``, ``status`` (active, awaiting confirmation, unsubscribed), ``domains``
and ``kinds`` (slugs separated by ``;``, or ``all``), ``subscribed`` (ISO 8601, UTC).
An export read back by the import gives the same rows.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula, so the export puts a ``'`` before any such cell (and before one that
starts with ``'``); the import takes that one ``'`` off again. The import checks every row
before anything is written: an error names its row as a spreadsheet numbers it (the
header is row 1) and the column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from bot.errors import StoreError
from bot.store import Subscriber
from bot.store._subscriber_lists import ImportRow
from bot.store._subscribers import subscriber_address

FIELDS = ("email", "status", "domains", "kinds", "subscribed")
STATUSES = ("active", "awaiting confirmation", "unsubscribed")
#: Largest upload taken, and most rows.
MAX_BYTES = 2_000_000
MAX_ROWS = 20_000
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet will show as text, never run as a formula."""
    return "'" + cell if cell.startswith((*_TRIGGERS, "'")) else cell


def restore(cell: str) -> str:
    """The value :func:`neutralise` was given."""
    if len(cell) > 1 and cell[0] == "'" and cell[1] in (*_TRIGGERS, "'"):
        return cell[1:]
    return cell


def status_of(sub: Subscriber) -> str:
    return ("unsubscribed" if sub.unsubscribed_at else
            "active" if sub.confirmed_at else "awaiting confirmation")


def _slugs_cell(slugs: tuple[str, ...] | None) -> str:
    return "all" if slugs is None else ";".join(slugs)


def export_csv(subscribers: Iterable[Subscriber]) -> str:
    """Every subscriber as CSV text (with a header row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for sub in subscribers:
        when = sub.confirmed_at.astimezone(UTC).isoformat(timespec="seconds") \
            if sub.confirmed_at else ""
        writer.writerow([neutralise(v) for v in (
            sub.email, status_of(sub), _slugs_cell(sub.domains), _slugs_cell(sub.kinds),
            when)])
    return out.getvalue()


def _choices(cell: str, known: Sequence[str], what: str) -> tuple[str, ...] | None:
    parts = [p.strip() for p in cell.replace(",", ";").split(";") if p.strip()]
    if not parts or parts == ["all"]:
        return None
    unknown = [p for p in parts if p not in known]
    if unknown:
        raise StoreError(f"{what}: unknown {', '.join(repr(u) for u in unknown)} "
                         f"(known: {', '.join(known)}, or 'all')")
    picked = tuple(k for k in known if k in parts)
    return None if len(picked) == len(known) else picked


def _when(cell: str) -> datetime | None:
    if not cell:
        return None
    try:
        value = datetime.fromisoformat(cell)
    except ValueError:
        raise StoreError(f"subscribed: {cell!r} is not a date such as 2026-08-20 or "
                         "2026-08-20T09:00:00+00:00") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_csv(data: bytes, domains: Sequence[str], kinds: Sequence[str]
              ) -> tuple[list[ImportRow], list[str]]:
    """The checked rows of an upload, and the errors found ("row 3, email: ..."). Rows
    are only to be used when there are no errors."""
    if len(data) > MAX_BYTES:
        return [], [f"the file is larger than {MAX_BYTES // 1_000_000} MB"]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [f"the file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], ["the file is empty: it needs a header row starting with 'email'"]
    except csv.Error as exc:
        return [], [f"row 1: {exc}"]
    if "email" not in header:
        return [], [f"row 1: no 'email' column (the columns are {', '.join(FIELDS)})"]
    rows: list[ImportRow] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    try:
        for line, cells in enumerate(reader, start=2):
            if line - 1 > MAX_ROWS:
                errors.append(f"row {line}: more than {MAX_ROWS} rows; split the file")
                break
            if not any(c.strip() for c in cells):
                continue
            raw = {name: restore(cells[i].strip()) if i < len(cells) else ""
                   for i, name in enumerate(header)}
            try:
                rows.append(_row(line, raw, domains, kinds, seen))
            except StoreError as exc:
                errors.append(f"row {line}, {exc}")
    except csv.Error as exc:
        errors.append(f"row {reader.line_num}: {exc}")
    if not rows and not errors:
        errors.append("the file has a header but no rows")
    return rows, errors


def _row(line: int, raw: dict[str, str], domains: Sequence[str], kinds: Sequence[str],
         seen: dict[str, int]) -> ImportRow:
    if not raw.get("email"):
        raise StoreError("email: empty")
    try:
        address = subscriber_address(raw["email"])
    except StoreError as exc:
        raise StoreError(f"email: {exc}") from None
    key = address.lower()
    if key in seen:
        raise StoreError(f"email: {address} is also on row {seen[key]}")
    seen[key] = line
    status = (raw.get("status") or "active").lower()
    if status not in STATUSES:
        raise StoreError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
    return ImportRow(line, address, status,
                     _choices(raw.get("domains", ""), domains, "domains"),
                     _choices(raw.get("kinds", ""), kinds, "kinds"),
                     _when(raw.get("subscribed", "")))
