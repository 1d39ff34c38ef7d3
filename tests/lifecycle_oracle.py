"""The lifecycle walk's model and invariants.

The model knows only what comms and the academy did: which entries each source published
(and which were backlog on the source's first poll), where the rules route each source,
which announcements were approved for which targets and from when, which stories comms
stopped. It never asks Herald where a story *should* go. After every step it reads what
the fake Slack, the fake Teams webhook and aiosmtpd received, and the database, and
checks the promises of issue #12:

1. ``embargo``: nothing reached a target (digest included) before its release time, and no
   announcement's text was shown anywhere before its send time;
2. ``routing``: nothing reached a target it was not routed or approved for;
3. ``once``: each (story, target) has at most one live post, at the latest revision once
   the outbox drains; an X echo of an announcement joins its story;
4. ``hold``: a held story reached no one after it was held;
5. ``lost``: no delivery or digest row was lost (deleted, dead, or a sent one undone).

A story's items are read from the database (the items a story holds are what readers
see); what each item allows comes from the model.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.store.schema import deliveries as t_deliveries
from bot.store.schema import digests as t_digests
from bot.store.schema import items as t_items
from bot.store.schema import stories as t_stories
from tests.lifecycle_feeds import MARKER, X
from tests.lifecycle_world import ROUTES, World

DIGEST_ID = re.compile(r"herald\.digest\.(\d+)\.([0-9-]+)@")


@dataclass(frozen=True)
class Approval:
    ann_id: int
    marker: str
    targets: frozenset[str]
    due: datetime


@dataclass(frozen=True)
class Arrival:
    """Something a reader could see: a post or an edit in Slack, a Teams card, a story in a
    digest email."""

    target: str
    story_id: int
    kind: str  # "post", "edit", "card", "digest"
    markers: tuple[str, ...]
    detail: str


@dataclass
class Violation:
    invariant: str
    step: int
    action: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] step {self.step} ({self.action}): {self.detail}"


@dataclass
class Allowed:
    targets: frozenset[str]
    release: dict[str, datetime]  # target -> not before (announcements only)


@dataclass
class Oracle:
    world: World
    approvals: dict[int, Approval] = field(default_factory=dict)
    ann_markers: dict[str, int] = field(default_factory=dict)  # marker -> announcement id
    backlog: set[tuple[str, str]] = field(default_factory=set)  # (source, guid)
    markers: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (source, item id)
    held: dict[int, datetime] = field(default_factory=dict)
    pending_echoes: list[tuple[str, int]] = field(default_factory=list)  # (guid, ann id)
    violations: list[Violation] = field(default_factory=list)
    # what has been read from the fakes so far
    _slack_seen: set[str] = field(default_factory=set)
    _slack_updates: int = 0
    _teams_seen: int = 0
    _smtp_seen: int = 0
    _teams_cards: Counter[int] = field(default_factory=Counter)
    _digests: Counter[tuple[str, str]] = field(default_factory=Counter)
    _digest_received: set[tuple[int, str]] = field(default_factory=set)  # (subscriber, period)
    # what the database held after the last step
    _rows: dict[int, tuple[int, str, str]] = field(default_factory=dict)
    _digest_rows: dict[int, str] = field(default_factory=dict)
    _reported: set[tuple[str, Any]] = field(default_factory=set)
    step: int = 0
    action: str = ""

    # -- recording what comms and the academy did ------------------------------------------

    def approved(self, ann_id: int, marker: str, targets: frozenset[str], due: datetime) -> None:
        self.approvals[ann_id] = Approval(ann_id, marker, targets, due)
        self.ann_markers[marker] = ann_id
        self.markers[marker] = ("comms", f"announcement-{ann_id}")

    def fail(self, invariant: str, detail: str, key: Any = None) -> None:
        """Record a violation (once per ``key``, when given)."""
        if key is not None:
            if (invariant, key) in self._reported:
                return
            self._reported.add((invariant, key))
        self.violations.append(Violation(invariant, self.step, self.action, detail))

    # -- reading the database ----------------------------------------------------------------

    def _conn(self) -> Any:
        return self.world.store.engine.connect()

    def final_story(self, story_id: int) -> int:
        """The story that carries ``story_id`` now (following comms' merges)."""
        with self._conn() as conn:
            for _ in range(100):
                nxt = conn.execute(select(t_stories.c.merged_into)
                                   .where(t_stories.c.id == story_id)).scalar_one_or_none()
                if nxt is None:
                    return story_id
                story_id = nxt
        return story_id

    def story_of_item(self, source: str, item_id: str) -> int | None:
        with self._conn() as conn:
            return conn.execute(select(t_items.c.story_id).where(
                t_items.c.source == source, t_items.c.source_item_id == item_id)
            ).scalar_one_or_none()

    def allowed(self, story_id: int) -> Allowed:
        """Where the model lets this story go, and from when: the approvals of the
        announcements it holds (never widened by routes), else its entries' routes
        (backlog entries are not announced)."""
        with self._conn() as conn:
            rows = conn.execute(select(t_items.c.source, t_items.c.source_item_id,
                                       t_items.c.source_kind)
                                .where(t_items.c.story_id == story_id)).all()
        anns = [self.approvals[int(r.source_item_id.rsplit("-", 1)[1])] for r in rows
                if r.source_kind == "queue"
                and int(r.source_item_id.rsplit("-", 1)[1]) in self.approvals]
        if anns:
            targets = frozenset().union(*(a.targets for a in anns))
            release = {t: max(a.due for a in anns if t in a.targets) for t in targets}
            return Allowed(targets, release)
        routed: set[str] = set()
        for r in rows:
            if (r.source, r.source_item_id) not in self.backlog and r.source in ROUTES:
                routed.update(ROUTES[r.source])
        return Allowed(frozenset(routed), {})

    # -- arrivals -------------------------------------------------------------------------

    def _slack_arrivals(self) -> list[Arrival]:
        state = self.world.slack.state
        found = []
        with state.lock:
            everything = [*state.messages, *state.deleted]
            updates = state.updates[self._slack_updates:]
            self._slack_updates = len(state.updates)
        by_ts = {m["ts"]: m for m in everything}
        for m in everything:
            if m["ts"] in self._slack_seen or m.get("thread_ts") not in (None, m["ts"]):
                continue
            self._slack_seen.add(m["ts"])
            found.append(_slack_arrival(m, "post"))
        for u in updates:
            msg = by_ts.get(u["ts"])
            if msg is not None:
                found.append(_slack_arrival({**msg, "text": u["text"] or "",
                                             "blocks": u["blocks"] or []}, "edit"))
        return [a for a in found if a is not None]

    def _teams_arrivals(self) -> list[Arrival]:
        cards = self.world.teams.cards
        new, self._teams_seen = cards[self._teams_seen:], len(cards)
        found = []
        for card in new:
            text = _card_text(card)
            story = self._story_by_markers(MARKER.findall(text.lower()))
            if story is None:
                self.fail("once", f"a Teams card no story is known for: {text[:120]!r}")
                continue
            found.append(Arrival("teams", story, "card", tuple(MARKER.findall(text.lower())),
                                 text[:120]))
        return found

    def _digest_arrivals(self) -> list[Arrival]:
        messages = self.world.smtp.messages
        new, self._smtp_seen = messages[self._smtp_seen:], len(messages)
        found = []
        for received in new:
            msg = email.message_from_bytes(received.raw, policy=email.policy.default)
            key = (",".join(received.rcpt_tos), str(msg["Message-ID"]))
            self._digests[key] += 1
            found_id = DIGEST_ID.search(key[1])
            if found_id:
                self._digest_received.add((int(found_id[1]), found_id[2]))
            if self._digests[key] > 1:
                self.fail("once", f"{key[0]} got the digest {key[1]} "
                                  f"{self._digests[key]} times", key=key)
            body = msg.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            for line in text.splitlines():
                marks = MARKER.findall(line.lower())
                if not marks or not line.startswith("* "):
                    continue
                story = self._story_by_markers(marks)
                if story is None:
                    self.fail("once", f"a digest line no story is known for: {line!r}")
                    continue
                found.append(Arrival("digest", story, "digest", tuple(marks),
                                     f"{key[0]}: {line.strip()[:100]}"))
        return found

    def _story_by_markers(self, marks: list[str]) -> int | None:
        for m in marks:
            if m in self.markers:
                story = self.story_of_item(*self.markers[m])
                if story is not None:
                    return self.final_story(story)
        return None

    # -- the checks -----------------------------------------------------------------------

    def check(self, *, drained: bool = False, collected: bool = False) -> None:
        now = self.world.clock.now()
        arrivals = [*self._slack_arrivals(), *self._teams_arrivals(), *self._digest_arrivals()]
        for a in arrivals:
            self._check_arrival(a, now)
        self._check_live_slack(drained)
        self._check_rows(now)
        self._check_approved_deliveries()
        if collected:
            self._check_echoes()
        if drained:
            self._check_drained(now)

    def _check_arrival(self, a: Arrival, now: datetime) -> None:
        story = self.final_story(a.story_id)
        allowed = self.allowed(story)
        where = f"story {story} ({a.kind} to {a.target}: {a.detail})"
        # A routed story's message, once out, is kept up to date even where a split has
        # since changed what routes it; comms' approvals bind edits as well as sends.
        routed_edit = a.kind == "edit" and not allowed.release
        if a.target not in allowed.targets and not routed_edit:
            self.fail("routing", f"{where} reached {a.target}, which it was neither routed "
                                 f"nor approved for (allowed: {sorted(allowed.targets)})")
        not_before = allowed.release.get(a.target)
        if not_before is not None and now < not_before:
            self.fail("embargo", f"{where} reached {a.target} at {now:%a %d %H:%M}, before "
                                 f"its release time {not_before:%a %d %H:%M}")
        for m in a.markers:
            ann = self.ann_markers.get(m)
            if ann is not None and now < self.approvals[ann].due:
                self.fail("embargo", f"{where} showed announcement {ann}'s text at "
                                     f"{now:%a %d %H:%M}; it is due "
                                     f"{self.approvals[ann].due:%a %d %H:%M}")
        if story in self.held:
            self.fail("hold", f"{where} reached {a.target} though comms stopped story "
                              f"{story} at {self.held[story]:%a %d %H:%M}")
        if a.kind == "card":
            self._teams_cards[a.story_id] += 1
            if self._teams_cards[a.story_id] > 1:
                self.fail("once", f"story {a.story_id} has {self._teams_cards[a.story_id]} "
                                  "Teams cards", key=("teams", a.story_id))

    def _check_live_slack(self, drained: bool) -> None:
        live: dict[int, list[str]] = defaultdict(list)
        for m in self.world.slack.posted():
            sid = _meta(m).get("story_id")
            if sid is not None:
                live[int(sid)].append(m["ts"])
        for sid, ts in live.items():
            if len(ts) > 1:
                self.fail("once", f"story {sid} has {len(ts)} live Slack messages {ts}",
                          key=("slack", sid, len(ts)))
        if drained:
            groups: dict[int, list[int]] = defaultdict(list)
            for sid in live:
                groups[self.final_story(sid)].extend([sid] * len(live[sid]))
            for final, sids in groups.items():
                if len(sids) > 1:
                    self.fail("once", f"story {final} (with the stories merged into it) has "
                                      f"{len(sids)} live Slack messages once the outbox "
                                      f"drained, posted for stories {sorted(sids)}",
                              key=("slack-group", final, len(sids)))
        self._check_slack_revisions()

    def _check_slack_revisions(self) -> None:
        """A Slack delivery recorded as sent at the story's revision shows that revision."""
        from channels.slack import SlackChannel

        channel = self.world.herald.channels["slack"]
        assert isinstance(channel, SlackChannel)
        by_ts = {m["ts"]: m for m in self.world.slack.posted()}
        with self._conn() as conn:
            rows = conn.execute(select(t_deliveries, t_stories.c.revision,
                                       t_stories.c.merged_into)
                                .join(t_stories, t_stories.c.id == t_deliveries.c.story_id)
                                .where(t_deliveries.c.target == "slack",
                                       t_deliveries.c.status == "sent")).all()
        for r in rows:
            if r.merged_into is not None or r.sent_revision != r.revision or not r.external_id:
                continue
            msg = by_ts.get(r.external_id.partition(":")[2])
            if msg is None:
                continue
            want = _shown(channel.render(self.world.store.get_story(r.story_id))["blocks"])
            if _shown(msg.get("blocks") or []) != want:
                self.fail("once", f"delivery {r.id} of story {r.story_id} is recorded as "
                                  f"sent at revision {r.revision}, but its Slack message "
                                  "shows an older one (it will never be edited)",
                          key=("stale", r.id))

    def _check_rows(self, now: datetime) -> None:
        with self._conn() as conn:
            rows = {r.id: (r.story_id, r.target, r.status, r.last_error)
                    for r in conn.execute(select(t_deliveries))}
            digests = {r.id: (r.status, r.subscriber_id, r.period)
                       for r in conn.execute(select(t_digests))}
        for rid, (sid, target, status) in self._rows.items():
            if rid in rows:
                continue
            # An unsent delivery may go where the story may no longer reach the target (a
            # merge with comms' announcement), or where the story carrying it has one.
            final = self.final_story(sid)
            kept = {t for (s, t, _st, _e) in rows.values() if s == final}
            if status != "sent" and (target not in self.allowed(final).targets
                                     or target in kept):
                continue
            self.fail("lost", f"the {status} delivery of story {sid} to {target} (row {rid}) "
                              "was deleted" + (f"; story {final} that carries it now has "
                                               f"none to {target}" if final != sid else ""),
                      key=rid)
        for rid, (sid, target, status, error) in rows.items():
            if status == "dead":
                self.fail("lost", f"the delivery of story {sid} to {target} (row {rid}) is "
                                  f"dead: {error}", key=rid)
        self._rows = {rid: (s, t, st) for rid, (s, t, st, _e) in rows.items()}
        for did, (status, sub, period) in digests.items():
            if self._digest_rows.get(did) == "sent" and status != "sent":
                self.fail("lost", f"the digest row {did} (subscriber {sub}, period {period}) "
                                  f"was sent, and is {status} now: it will be sent again",
                          key=("digest", did))
            if status != "sent" and (sub, period) in self._digest_received:
                self.fail("lost", f"subscriber {sub} received the digest of {period}, but "
                                  f"its row {did} is {status}: it will be sent again",
                          key=("digest-undone", did))
            if status == "dead":
                self.fail("lost", f"the digest row {did} (subscriber {sub}) is dead",
                          key=("digest-dead", did))
        self._digest_rows = {did: v[0] for did, v in digests.items()}

    def _check_approved_deliveries(self) -> None:
        """Each approved target of an announcement has a delivery on the story carrying it."""
        with self._conn() as conn:
            for ann in self.approvals.values():
                story = self.story_of_item("comms", f"announcement-{ann.ann_id}")
                if story is None:
                    continue
                have = set(conn.execute(select(t_deliveries.c.target).where(
                    t_deliveries.c.story_id == story)).scalars())
                for target in sorted(ann.targets - have):
                    self.fail("lost", f"announcement {ann.ann_id} was approved for {target}, "
                                      f"but story {story} that carries it has no delivery "
                                      "there", key=("approved", ann.ann_id, target))

    def _check_echoes(self) -> None:
        for guid, ann_id in self.pending_echoes:
            echo = self.story_of_item(X, guid)
            ann = self.story_of_item("comms", f"announcement-{ann_id}")
            if echo is None or ann is None:
                continue
            if self.final_story(echo) != self.final_story(ann):
                self.fail("once", f"the academy's X post {guid} links to announcement "
                                  f"{ann_id} (story {ann}) but became story {echo}: one "
                                  "announcement, two stories", key=("echo", guid))
        self.pending_echoes = []

    def _check_drained(self, now: datetime) -> None:
        """Once the outbox has nothing due, every live Slack message shows its story's
        latest revision (unless that revision is not released yet)."""
        with self._conn() as conn:
            rows = conn.execute(select(t_deliveries, t_stories.c.revision,
                                       t_stories.c.hold, t_stories.c.merged_into)
                                .join(t_stories, t_stories.c.id == t_deliveries.c.story_id)
                                .where(t_deliveries.c.target == "slack",
                                       t_deliveries.c.status == "sent")).all()
        for r in rows:
            if r.hold or r.merged_into is not None or r.sent_revision >= r.revision:
                continue
            release_at = getattr(r, "release_at", None)
            if release_at is not None and release_at > now:
                continue
            allowed = self.allowed(r.story_id)
            if "slack" not in allowed.targets or allowed.release.get("slack", now) > now:
                continue  # a message the story may no longer change (or not yet): frozen
            self.fail("once", f"the outbox drained, yet story {r.story_id}'s Slack message "
                              f"shows revision {r.sent_revision} of {r.revision}",
                      key=("drain", r.id, r.revision))


def _meta(message: dict[str, Any]) -> dict[str, Any]:
    return ((message.get("metadata") or {}).get("event_payload") or {})


def _block_texts(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for b in blocks:
        text = b.get("text")
        if isinstance(text, dict):
            out.append(str(text.get("text", "")))
        for el in b.get("elements") or []:
            if isinstance(el, dict) and isinstance(el.get("text"), str):
                out.append(el["text"])
            if isinstance(el, dict) and el.get("url"):
                out.append(str(el["url"]))
    return out


def _shown(blocks: list[dict[str, Any]]) -> tuple[str, ...]:
    """What a Slack message shows of a story's revision: header, summary and link (the
    context line also carries tags, which change without a new revision)."""
    return tuple(t for b in blocks if b.get("type") in ("header", "section", "actions")
                 for t in _block_texts([b]))


def _slack_arrival(m: dict[str, Any], kind: str) -> Arrival | None:
    sid = _meta(m).get("story_id")
    text = " ".join([m.get("text") or "", *_block_texts(m.get("blocks") or [])])
    if sid is None:
        return None
    return Arrival("slack", int(sid), kind, tuple(MARKER.findall(text.lower())),
                   f"ts {m['ts']}: {text[:80]}")


def _card_text(card: dict[str, Any]) -> str:
    parts = []
    for el in card.get("body") or []:
        if isinstance(el, dict) and isinstance(el.get("text"), str):
            parts.append(el["text"])
    return " ".join(parts)
