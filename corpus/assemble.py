"""Build ``announcements.jsonl`` from the gathered items, the two blind labellings and the
settled disagreements (a development step, run once when the corpus changes).

    python corpus/assemble.py RAW_DIR

RAW_DIR holds the gathered items (``P.jsonl`` per gatherer P), the two labellers' verdicts
(``lab_A_*.jsonl`` and ``lab_B_*.jsonl``, any batching, one line per item id) and
``settled.jsonl`` (one line per disagreement: id, kind, domains, why). Splits go by site:
sites are ordered by a hash of their name (nothing about their items), then taken into test
until it holds a fifth of the items, then into dev until it holds another fifth; the rest
is train.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Pairs of items two gatherers restated from the same page about the same announcement
#: (same address, same facts): their groups are one.
SAME_ANNOUNCEMENT = [("dn-024", "nw-086"), ("dn-026", "nw-096"), ("ed-059", "la-070"),
                     ("la-116", "nb-110"), ("la-117", "nb-112"), ("la-118", "nb-111"),
                     ("nb-020", "tr-011")]
FIELDS = ("id", "site", "source", "url", "title", "text", "published", "group", "note")


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def splits(rows: list[dict]) -> dict[str, str]:
    """Each site's split. Sites that share an announcement (a retweet of another
    organisation's post) go together, so copies of one announcement never span splits."""
    parent: dict[str, str] = {r["site"]: r["site"] for r in rows}

    def root(s: str) -> str:
        while parent[s] != s:
            s = parent[s]
        return s

    first_site: dict[str, str] = {}
    for r in rows:
        other = first_site.setdefault(r["group"], r["site"])
        parent[root(r["site"])] = root(other)
    per_unit = Counter(root(r["site"]) for r in rows)
    order = sorted(per_unit, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    total, taken, unit_split = len(rows), {"test": 0, "dev": 0}, {}
    for unit in order:
        split = next((s for s in ("test", "dev") if taken[s] < total / 5), "train")
        if split != "train":
            taken[split] += per_unit[unit]
        unit_split[unit] = split
    return {site: unit_split[root(site)] for site in parent}


def main(raw: Path) -> None:
    settled = {s["id"]: s for s in read(raw / "settled.jsonl")} if (
        raw / "settled.jsonl").exists() else {}
    rows: list[dict] = []
    labels = {who: {r["id"]: r for p in sorted(raw.glob(f"lab_{who}_*.jsonl"))
                    for r in read(p)} for who in "AB"}
    for batch in sorted(p.stem for p in raw.glob("*.jsonl") if "_" not in p.stem
                        and p.stem != "settled"):
        for item in read(raw / f"{batch}.jsonl"):
            row = {k: item.get(k) for k in FIELDS}
            a, b = (labels[w][item["id"]] for w in "AB")
            row["labels"] = {w: {"kind": x["kind"], "domains": sorted(x["domains"])}
                             for w, x in (("a", a), ("b", b))}
            if (a["kind"], sorted(a["domains"])) == (b["kind"], sorted(b["domains"])):
                row["kind"], row["domains"] = a["kind"], sorted(a["domains"])
            else:
                s = settled[item["id"]]
                row["kind"], row["domains"] = s["kind"], sorted(s["domains"])
                row["settled"] = s["why"]
            rows.append(row)
    # Two gatherers restated the same page about the same announcement: one announcement.
    by_id = {row["id"]: row for row in rows}
    for first, second in SAME_ANNOUNCEMENT:
        old, new = by_id[second]["group"], by_id[first]["group"]
        for row in rows:
            if row["group"] == old:
                row["group"] = new
    # ``link`` is what a feed entry would link to. A page that holds several announcements
    # (a newsletter's sections, a category or calendar page) is where we read them, not
    # each one's own address: each gets a made-up entry address of its own.
    groups_of_page: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row["source"] != "x-post" and row["url"]:
            groups_of_page[row["url"]].add(row["group"])
    for row in rows:
        if row["source"] == "x-post":
            row["link"] = None
        elif len(groups_of_page[row["url"]]) > 1:
            row["link"] = f"https://{row['site']}/corpus-entry/{row['group']}"
        else:
            row["link"] = row["url"]
    # An X post has a time: a composed post without a date was posted with its page.
    page_day: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: r["published"] or "9999"):
        if row["source"] != "x-post" and row["published"]:
            page_day.setdefault(row["group"], row["published"])
    for row in rows:
        if row["source"] == "x-post" and not row["published"] and row["group"] in page_day:
            row["published"] = page_day[row["group"]]
            row["published_from_page"] = True
    split_of = splits(rows)
    groups: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        row["split"] = split_of[row["site"]]
        groups[row["group"]].add(row["split"])
    spanning = [g for g, s in groups.items() if len(s) > 1]
    if spanning:
        sys.exit(f"groups span splits (their copies sit on several sites): {spanning}")
    with open(HERE / "announcements.jsonl", "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} items; " + ", ".join(
        f"{s} {n}" for s, n in sorted(Counter(r['split'] for r in rows).items())))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
