"""Candidate lookup through the engines' own indexes, against today's term table:
``python -m bench.candidates --stored 1000,200000 --db sqlite,postgresql``.

Each index is a standalone table of its own (no stories, no items), seeded with the same
items: a link term and the 23 longest words of an item, as ``Store.ingest`` files them,
published evenly over the two years up to the corpus dates (the filling of
``bench.growth``). Then the new items of generated feeds (``bench.corpus``, parsed, their
terms from ``_ingest._terms``) are looked up and written feed by feed, as a poll would: per
item the candidate lookup (the items within the merge window sharing a link term or at
least two of the item's rarest word terms, chosen by ``_lookup_terms`` within the lookup
budget, most shared first, cut at the cap), then per feed the write of its items' terms
and their term counts, and the commit. The indexes:

``table``
    today's ``item_terms`` (key term, published_at, item_id; WITHOUT ROWID on SQLite)
    and its query, ``_ingest._CANDIDATES``.
``fts5`` (SQLite)
    a contentless FTS5 table with ``detail=none`` (no positions, no columns: only which
    rows hold a term), one row an item, whose rowid is the publication second (since
    2000) times 2^32 plus the item id, so the window is a rowid range that FTS5 seeks
    to in each posting list. One ``MATCH`` a term, ``UNION ALL``, grouped per item.
``tsvector`` (PostgreSQL)
    one row an item with its terms as a ``tsvector`` under a GIN index, and the
    publication time as a column; one ``@@`` query for any of the terms, the overlap
    counted per row from the vector.

Terms become tokens of 'h' and 16 hex digits (a hash), so that links and words pass the
engines' query syntax untouched. All three keep the same ``term_counts`` table, which the
term choice reads. Reported per new item: the write (terms, counts, commit), the lookup
query, and how many of the term table's candidates each index also returned (recall), and
how often the lists were the same in the same order.

pg_trgm is not measured: it indexes the three-letter pieces of a text for likeness of
strings, while a candidate here is an item sharing whole terms, which the GIN index of a
tsvector answers exactly.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from bench.corpus import BASE, Vocabulary, generate
from bench.growth import SPREAD
from bot import bundled
from bot.config import RouteConfig
from bot.pipeline.similar import INDEX_SKIP, MergeConfig, words_of
from bot.pipeline.tagging import Taxonomy, load_taxonomy
from bot.sources.feed import parse_feed
from bot.store import make_engine
from bot.store._ingest import (
    _CANDIDATES,
    LOOKUP_BUDGET,
    RoutingContext,
    _features,
    _lookup_terms,
    _terms,
)
from bot.store.schema import UTCDateTime

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
CFG = MergeConfig()
CAP = LOOKUP_BUDGET + 2 * CFG.max_candidates

_md = MetaData()
#: Today's term table and counts, as in bot.store.schema but without the foreign key to
#: ``items`` (there are no items here).
T_TERMS = Table(
    "item_terms", _md,
    Column("term", String(64), primary_key=True),
    Column("published_at", UTCDateTime, primary_key=True),
    Column("item_id", Integer, primary_key=True),
    sqlite_with_rowid=False,
)
T_COUNTS = Table(
    "term_counts", _md,
    Column("term", String(64), primary_key=True),
    Column("n", Integer, nullable=False),
)


def token(term: str) -> str:
    """The term as an engine's token: 'h' and 16 hex digits of its hash."""
    return "h" + hashlib.blake2b(term.encode(), digest_size=8).hexdigest()


def rowid(published_at: datetime, item_id: int) -> int:
    """The FTS5 rowid of an item: its publication second since 2000, then its id."""
    return int((published_at - EPOCH).total_seconds()) * 2**32 + item_id


@dataclass
class New:
    """A new item to look up and write."""

    item_id: int
    published_at: datetime
    terms: list[str]


Row = tuple[int, datetime, list[str]]  # item id, published, terms


class Index:
    """One way of filing and finding items by their terms, in its own database."""

    name = ""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        _md.create_all(engine)
        self.create()

    def create(self) -> None:
        raise NotImplementedError

    def write(self, conn: Connection, rows: list[Row]) -> None:
        """The items' terms (not their counts)."""
        raise NotImplementedError

    def lookup(self, conn: Connection, links: list[str], words: list[str], low: datetime,
               high: datetime) -> list[int]:
        """Candidates' item ids, best first, as ``_CANDIDATES`` orders them."""
        raise NotImplementedError

    def fill(self, conn: Connection, rows: list[Row]) -> None:
        self.write(conn, rows)

    def write_counts(self, conn: Connection, delta: Counter[str]) -> None:
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        stmt = dialect.insert(T_COUNTS)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["term"], set_={"n": T_COUNTS.c.n + stmt.excluded.n}),
            [{"term": t, "n": n} for t, n in sorted(delta.items())])

    def counts(self, conn: Connection, terms: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for n in range(0, len(terms), 500):
            found.update(conn.execute(
                T_COUNTS.select().where(T_COUNTS.c.term.in_(terms[n:n + 500]))).all())
        return found

    def tidy(self) -> None:
        """After a bulk fill: what a long-lived store would have done by itself."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)" if self.dialect == "sqlite"
                                 else "VACUUM ANALYZE")


class TermTable(Index):
    name = "table"

    def create(self) -> None:
        pass

    def write(self, conn: Connection, rows: list[Row]) -> None:
        conn.execute(T_TERMS.insert(), [{"term": t, "item_id": i, "published_at": p}
                                        for i, p, ts in rows for t in ts])

    def fill(self, conn: Connection, rows: list[Row]) -> None:
        if self.dialect != "postgresql":
            return self.write(conn, rows)
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cur.copy("COPY item_terms (term, published_at, item_id) FROM STDIN") as copy:
            for i, p, ts in rows:
                for t in ts:
                    copy.write_row((t, p, i))
        return None

    def lookup(self, conn: Connection, links: list[str], words: list[str], low: datetime,
               high: datetime) -> list[int]:
        return [r[0] for r in conn.execute(_CANDIDATES, {
            "terms": links + words, "low": low, "high": high, "cap": CAP})]


class Fts5(Index):
    name = "fts5"

    def create(self) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE VIRTUAL TABLE IF NOT EXISTS item_fts "
                "USING fts5(terms, content='', detail=none)")
        self._queries: dict[tuple[int, int], Any] = {}

    def write(self, conn: Connection, rows: list[Row]) -> None:
        conn.exec_driver_sql("INSERT INTO item_fts (rowid, terms) VALUES (?, ?)", [
            (rowid(p, i), " ".join(token(t) for t in ts)) for i, p, ts in rows])

    def _query(self, links: int, words: int) -> Any:
        key = (links, words)
        if key not in self._queries:
            branch = ("SELECT rowid AS r, {link} AS link FROM item_fts WHERE item_fts "
                      "MATCH :t{n} AND rowid BETWEEN :lo AND :hi")
            parts = [branch.format(link=1 if n < links else 0, n=n)
                     for n in range(links + words)]
            self._queries[key] = text(
                "SELECT r & 4294967295 AS item_id, sum(link) AS links, count(*) AS overlap "
                f"FROM ({' UNION ALL '.join(parts)}) GROUP BY r "
                "HAVING sum(link) >= 1 OR count(*) - sum(link) >= 2 "
                "ORDER BY links DESC, overlap DESC, item_id LIMIT :cap")
        return self._queries[key]

    def lookup(self, conn: Connection, links: list[str], words: list[str], low: datetime,
               high: datetime) -> list[int]:
        params: dict[str, Any] = {f"t{n}": token(t) for n, t in enumerate(links + words)}
        params.update(lo=rowid(low, 0), hi=rowid(high, 2**32 - 1), cap=CAP)
        return [r[0] for r in conn.execute(self._query(len(links), len(words)), params)]


class TsVector(Index):
    name = "tsvector"

    def create(self) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE IF NOT EXISTS item_tsv (item_id integer PRIMARY KEY, "
                "published_at timestamptz NOT NULL, terms tsvector NOT NULL)")
            conn.exec_driver_sql(
                "CREATE INDEX IF NOT EXISTS item_tsv_terms ON item_tsv USING gin (terms)")

    def write(self, conn: Connection, rows: list[Row]) -> None:
        conn.execute(text("INSERT INTO item_tsv VALUES (:i, :p, CAST(:t AS tsvector))"), [
            {"i": i, "p": p, "t": " ".join(token(t) for t in ts)} for i, p, ts in rows])

    def fill(self, conn: Connection, rows: list[Row]) -> None:
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cur.copy("COPY item_tsv (item_id, published_at, terms) FROM STDIN") as copy:
            for i, p, ts in rows:
                copy.write_row((i, p, " ".join(token(t) for t in ts)))

    #: The overlap of a row's terms with the lookup's: how many lexemes ``ts_delete``
    #: takes out of its vector. The inner query is kept apart (OFFSET 0) so that it is
    #: computed once a row.
    _QUERY = text(
        "SELECT item_id, links, overlap FROM ("
        " SELECT item_id,"
        "  length(terms) - length(ts_delete(terms, CAST(:links AS text[]))) AS links,"
        "  length(terms) - length(ts_delete(terms, CAST(:all AS text[]))) AS overlap"
        " FROM item_tsv WHERE terms @@ CAST(:query AS tsquery)"
        " AND published_at BETWEEN :low AND :high OFFSET 0) c"
        " WHERE links >= 1 OR overlap - links >= 2"
        " ORDER BY links DESC, overlap DESC, item_id LIMIT :cap")

    def lookup(self, conn: Connection, links: list[str], words: list[str], low: datetime,
               high: datetime) -> list[int]:
        toks = [token(t) for t in links + words]
        return [r[0] for r in conn.execute(self._QUERY, {
            "links": toks[:len(links)], "all": toks, "query": " | ".join(toks),
            "low": low, "high": high, "cap": CAP})]


class Fts5Or(Fts5):
    """FTS5 keeping its rows' terms (``detail=none``, with content): one ``MATCH`` of any
    of the terms within the rowid range, and the overlap counted here from the terms."""

    name = "fts5-or"

    def create(self) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE VIRTUAL TABLE IF NOT EXISTS item_fts USING fts5(terms, detail=none)")

    _QUERY = text("SELECT rowid & 4294967295, terms FROM item_fts WHERE item_fts MATCH :q "
                  "AND rowid BETWEEN :lo AND :hi")

    def lookup(self, conn: Connection, links: list[str], words: list[str], low: datetime,
               high: datetime) -> list[int]:
        link_toks = {token(t) for t in links}
        word_toks = {token(t) for t in words}
        found = []
        for item_id, terms in conn.execute(self._QUERY, {
                "q": " OR ".join(sorted(link_toks | word_toks)), "lo": rowid(low, 0),
                "hi": rowid(high, 2**32 - 1)}):
            toks = set(terms.split())
            n_links, n_words = len(toks & link_toks), len(toks & word_toks)
            if n_links or n_words >= 2:
                found.append((-n_links, -(n_links + n_words), item_id))
        return [r[2] for r in sorted(found)[:CAP]]


INDEXES: dict[str, list[type[Index]]] = {"sqlite": [TermTable, Fts5, Fts5Or],
                                         "postgresql": [TermTable, TsVector]}


def filler(taxonomy: Taxonomy, start: int, count: int, seed: int) -> Iterator[Row]:
    """``count`` stored items from id ``start`` on: their terms as ``_terms`` gives them
    for ``bench.growth``'s filler (a link and the longest uncommon words)."""
    vocab = Vocabulary(random.Random(6))
    rng = random.Random(seed)
    for i in range(start, start + count):
        when = BASE - SPREAD * rng.random()
        title = vocab.phrase(rng, 6).capitalize()
        body = vocab.phrase(rng, 110)
        words = words_of(f"{title}\n{body}") - INDEX_SKIP
        terms = [f"u:https://filler{i % 997}.example.org/news/{i}"]
        for w in sorted(words, key=lambda w: (-len(w), w)):
            if len(terms) == 24:
                break
            if not taxonomy.is_common(w):
                terms.append(w[:64])
        yield i, when, terms


def check_filler(ctx: RoutingContext) -> None:
    """The filler's terms are those ``_terms`` gives for the same item (an oracle check)."""
    from bot.model import Item

    vocab = Vocabulary(random.Random(6))
    rng = random.Random(99)
    for i, (_, when, terms) in enumerate(filler(ctx.taxonomy, 1, 50, 99), start=1):
        rng.random()
        title = vocab.phrase(rng, 6).capitalize()
        body = vocab.phrase(rng, 110)
        url = f"https://filler{i % 997}.example.org/news/{i}"
        item = Item(source="f", source_item_id=str(i), url=url, canonical_url=url,
                    title=title, text=body, html=f"<p>{body}</p>", author=None,
                    published_at=when, collected_at=when)
        assert _terms(_features(item, ctx), ctx) == terms, (i, terms)


def new_items(ctx: RoutingContext, feeds: int, start: int) -> list[list[New]]:
    """The entries of ``feeds`` generated feeds (the corpus of seed 6, whose vocabulary the
    filler's is), parsed, with the terms ingest files them under, feed by feed."""
    out, n = [], start
    for f in generate(feeds, 50, seed=6):
        batch = []
        for item in parse_feed(f.body, source=f"c-{f.path}", url="http://bench" + f.path,
                               collected_at=BASE):
            batch.append(New(n, item.published_at, _terms(_features(item, ctx), ctx)))
            n += 1
        out.append(batch)
    return out


@dataclass
class Tally:
    """Per-item times and agreement of one index in one batch."""

    write: float = 0.0
    lookup: float = 0.0
    items: int = 0
    found: int = 0  # of the term table's candidates, how many this index returned
    wanted: int = 0
    same: int = 0  # lookups whose lists were equal, order included
    terms: int = 0  # terms looked up by, links and words
    results: list[list[int]] = field(default_factory=list)


def run_batch(index: Index, feeds: list[list[New]], reference: list[list[int]] | None,
              clock: Callable[[], float] = time.perf_counter) -> Tally:
    """Look up and write ``feeds`` into ``index``, feed by feed."""
    tally = Tally()
    for feed in feeds:
        with index.engine.connect() as conn:
            trans = conn.begin()
            counts = index.counts(conn, sorted({t for it in feed for t in it.terms
                                                if not t.startswith("u:")}))
            for it in feed:
                links = [t for t in it.terms if t.startswith("u:")]
                words = _lookup_terms([t for t in it.terms if not t.startswith("u:")], counts)
                low = it.published_at - CFG.strong_window
                high = it.published_at + CFG.strong_window
                started = clock()
                found = (index.lookup(conn, links, words, low, high)
                         if links or len(words) >= 2 else [])
                tally.lookup += clock() - started
                tally.terms += len(links) + len(words)
                tally.results.append(found)
            started = clock()
            index.write(conn, [(it.item_id, it.published_at, it.terms) for it in feed])
            index.write_counts(conn, Counter(t for it in feed for t in it.terms
                                             if not t.startswith("u:")))
            trans.commit()
            tally.write += clock() - started
            tally.items += len(feed)
    if reference is not None:
        for mine, theirs in zip(tally.results, reference, strict=True):
            tally.wanted += len(theirs)
            tally.found += len(set(theirs) & set(mine))
            tally.same += mine == theirs
    return tally


def fill(indexes: list[Index], taxonomy: Taxonomy, start: int, count: int) -> None:
    """``count`` more stored items in every index, the same in each."""
    chunk = 5000
    rows_iter = filler(taxonomy, start, count, seed=start)
    for _lo in range(0, count, chunk):
        rows = [r for _, r in zip(range(chunk), rows_iter, strict=False)]
        if not rows:
            break
        delta = Counter(t for _i, _p, ts in rows for t in ts if not t.startswith("u:"))
        for index in indexes:
            with index.engine.begin() as conn:
                index.fill(conn, rows)
                index.write_counts(conn, delta)
    for index in indexes:
        index.tidy()


def engines(db: str, tmp: str) -> Iterator[tuple[type[Index], Engine, Callable[[], None]]]:
    for cls in INDEXES[db]:
        if db == "sqlite":
            engine = make_engine(f"sqlite:///{tmp}/{cls.name}.db")
            yield cls, engine, engine.dispose
        else:
            from bench.__main__ import _PgSchema

            schema = _PgSchema()
            engine = make_engine(schema.url)

            def done(engine: Engine = engine, schema: _PgSchema = schema) -> None:
                engine.dispose()
                schema.drop()
            yield cls, engine, done


def run(db: str, sizes: list[int], feeds: int, rounds: int, ctx: RoutingContext,
        tmp: str) -> list[dict[str, Any]]:
    made = list(engines(db, tmp))
    indexes = [cls(engine) for cls, engine, _ in made]
    points: list[dict[str, Any]] = []
    have, next_id = 0, 1
    # New feeds for every round at every size, none of them used twice; ids after the
    # largest filling.
    fresh = iter(new_items(ctx, feeds * rounds * len(sizes), max(sizes) + 1))
    try:
        for size in sorted(sizes):
            started = time.perf_counter()
            if size > have:
                fill(indexes, ctx.taxonomy, next_id, size - have)
                next_id += size - have
                have = size
            fill_s = time.perf_counter() - started
            best: dict[str, dict[str, float]] = {}
            for _round in range(rounds):
                batch = [next(fresh) for _ in range(feeds)]
                n = sum(len(f) for f in batch)
                ref = run_batch(indexes[0], batch, None)
                tallies = [ref] + [run_batch(ix, batch, ref.results) for ix in indexes[1:]]
                for ix, t in zip(indexes, tallies, strict=True):
                    b = best.setdefault(ix.name, {"write": 1e9, "lookup": 1e9, "found": 0,
                                                  "wanted": 0, "same": 0, "items": 0})
                    b["write"] = min(b["write"], t.write / n * 1000)
                    b["lookup"] = min(b["lookup"], t.lookup / n * 1000)
                    for key in ("found", "wanted", "same", "items"):
                        b[key] += getattr(t, key)
                    b["returned"] = b.get("returned", 0) + sum(map(len, t.results))
                    b["terms"] = b.get("terms", 0) + t.terms
                have += n
            for name, b in best.items():
                recall = b["found"] / b["wanted"] if b["wanted"] else 1.0
                point = {"db": db, "index": name, "stored": size, "write_ms": b["write"],
                         "lookup_ms": b["lookup"], "recall": recall,
                         "same": b["same"] / b["items"] if name != "table" else 1.0,
                         "candidates": b["returned"] / b["items"],
                         "terms": b["terms"] / b["items"],
                         "fill_s": fill_s}
                points.append(point)
                print(f"  {db:<10} {name:<8} {size:>8}: write {b['write']:.3f} ms, lookup "
                      f"{b['lookup']:.3f} ms, recall {recall:.4f}", file=sys.stderr,
                      flush=True)
    finally:
        for _, _, done in made:
            done()
    return points


def main(argv: list[str] | None = None) -> None:
    from bench.__main__ import _machine

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", default="1000,200000")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--feeds", type=int, default=10, help="new feeds (×50) a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is kept")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.stored.split(",")]
    ctx = RoutingContext(load_taxonomy(bundled.taxonomy()), (RouteConfig(to=["slack"]),),
                         ("slack",))
    check_filler(ctx)
    print(f"machine: {_machine()}", file=sys.stderr)
    points: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="herald-candidates-") as tmp:
        for db in [d.strip() for d in args.db.split(",") if d.strip()]:
            points += run(db, sizes, args.feeds, args.rounds, ctx, tmp)
    print(f"machine: {_machine()}")
    print("| database | index | stored | write ms | lookup ms | write+lookup | change | "
          "terms | candidates | recall | same list |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    first: dict[tuple[str, str], float] = {}
    for p in points:
        total = p["write_ms"] + p["lookup_ms"]
        base = first.setdefault((p["db"], p["index"]), total)
        change = "—" if total == base and p["stored"] == min(sizes) else \
            f"{(total / base - 1) * 100:+.0f}%"
        print(f"| {p['db']} | {p['index']} | {p['stored']:,} | {p['write_ms']:.3f} | "
              f"{p['lookup_ms']:.3f} | {total:.3f} | {change} | {p['terms']:.1f} | "
              f"{p['candidates']:.1f} | "
              f"{p['recall'] * 100:.2f}% | {p['same'] * 100:.1f}% |")


if __name__ == "__main__":
    main()
