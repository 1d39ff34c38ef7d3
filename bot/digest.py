"""The weekly digest email: who gets what, built, rendered and sent once per period.

A period ends at the configured schedule tick (default Monday 08:00 Europe/London)
and starts a week earlier; its key is the local date it starts. Each confirmed
subscriber gets the period's stories in the domains they chose, grouped by domain
(a story sits under the first of its domains the subscriber chose; stories with no
domain under "Other news" for those who take everything), each with its key date and
the days left beside its title. Two sections lead (bot.digest_time): "Closing soon"
(applications closing and deadlines within ``[digest] closing_soon``, of stories the
digest may remind: :func:`reminder_allowed`) and "Opening soon" (applications opening and
events to come), both from the stories the release gate lets reach the digest. A story
whose deadlines and events are all gone is marked "Closed" or "Took place", or left out
(``[digest] passed``). A subscriber with nothing new gets no email, however much is
closing soon: the digest is the week's news, and reminders reach people in the channels.

The HTML part is Jinja2 with CSS inlined (css-inline); feed text enters it only as
escaped plain text, never as markup. Headers carry Message-ID, Date, List-Id,
List-Unsubscribe (a signed https link and a mailto) and List-Unsubscribe-Post
(RFC 8058). Exactly one digest per subscriber and period: a row per pair, unique,
claimed with a lease, marked sent (or empty) after the send, and only by the run that
still holds the lease.

One subscriber holds back no one else: a refusal, or an address the mail server cannot
take (a non-ASCII local part without SMTPUTF8), fails that digest alone with its reason
on the row (``herald subscribers list`` shows it), and the batch goes on. When the
server itself cannot be reached, the digest being sent fails and the rest of the batch
is given back untried, its attempts not counted.
"""

from __future__ import annotations

import email.policy
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import css_inline
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.config import DigestConfig, HeraldConfig, parse_schedule
from bot.digest_story import DigestBrand, story_context, story_parts
from bot.digest_time import SOON_MAX, SoonEntry, closing_soon, opening_soon, passed_mark
from bot.digest_time import http_link as _link
from bot.errors import ChannelError, ConfigError, HeraldError, TargetAuthError
from bot.model import Story, TagGroup
from bot.pause import EMAIL, Gate, gate, refused
from bot.progress import SILENT, Progress
from bot.release import DIGEST
from bot.reminders import routes_allow
from bot.retry import RetryPolicy
from bot.store import DigestRow, Subscriber
from bot.store._subscribers import mail_address
from bot.text import one_line, truncate
from bot.tokens import Signer
from channels.email import SmtpConnectionError

if TYPE_CHECKING:
    from bot.app import Herald

log = logging.getLogger("herald.digest")

#: When a batch stopped because the mail server could not be used is tried again.
CONNECTION_RETRY = timedelta(minutes=15)
#: How far back "Opening soon" and "Closing soon" look for stories whose key dates are
#: still ahead.
OPENING_SOON_LOOKBACK = timedelta(weeks=8)
OPENING_SOON_MAX = SOON_MAX
_DEFAULTS = HeraldConfig()
SUMMARY_LIMIT = 400
UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"


@dataclass(frozen=True)
class Period:
    """One digest period, [start, end) in UTC, named by the local date it starts."""

    start: datetime
    end: datetime
    key: str
    label: str


def _label(start_local: datetime, end_local: datetime) -> str:
    last = (end_local - timedelta(days=1)).date()
    first = start_local.date()
    if first.year != last.year:
        return f"{first:%-d %B %Y} – {last:%-d %B %Y}"
    if first.month != last.month:
        return f"{first:%-d %B} – {last:%-d %B %Y}"
    return f"{first:%-d}–{last:%-d %B %Y}"


def period_from_start(start_day: date, schedule: str, tz: str) -> Period:
    """The period that starts on ``start_day`` at the schedule's time."""
    _weekday, hour, minute = parse_schedule(schedule)
    zone = ZoneInfo(tz)
    start_local = datetime.combine(start_day, time(hour, minute), tzinfo=zone)
    end_local = datetime.combine(start_day + timedelta(days=7), time(hour, minute),
                                 tzinfo=zone)
    return Period(start_local.astimezone(UTC), end_local.astimezone(UTC),
                  start_day.isoformat(), _label(start_local, end_local))


def last_complete_period(now: datetime, schedule: str, tz: str) -> Period:
    """The period that ended at the latest schedule tick at or before ``now``."""
    weekday, hour, minute = parse_schedule(schedule)
    local = now.astimezone(ZoneInfo(tz))
    tick_day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    tick = datetime.combine(tick_day, time(hour, minute), tzinfo=ZoneInfo(tz))
    if tick > local:
        tick_day -= timedelta(days=7)
    return period_from_start(tick_day - timedelta(days=7), schedule, tz)


def parse_period(text: str, schedule: str, tz: str, now: datetime) -> Period:
    """``last`` (default), ``current``, or a start date ``YYYY-MM-DD`` on the schedule day."""
    if text in ("", "last"):
        return last_complete_period(now, schedule, tz)
    if text == "current":
        last = last_complete_period(now, schedule, tz)
        return period_from_start(date.fromisoformat(last.key) + timedelta(days=7), schedule,
                                 tz)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--period takes 'last', 'current' or a date YYYY-MM-DD, "
                          f"not {text!r}") from None
    weekday = parse_schedule(schedule)[0]
    if day.weekday() != weekday:
        raise ConfigError(f"a period starts on the schedule's weekday "
                          f"({day + timedelta(days=(weekday - day.weekday()) % 7)} is the "
                          f"next one); {text} is not")
    return period_from_start(day, schedule, tz)


# -- building (pure) ----------------------------------------------------------------------

@dataclass(frozen=True)
class DigestStory:
    id: int | None
    title: str
    summary: str
    url: str | None
    kind: str
    tags: tuple[str, ...]
    #: How it reads (bot.digest_story): the key date line, comms' Markdown as safe HTML,
    #: the kind's slug (for the button) and the source slugs.
    key_date: str = ""
    html: str = ""
    kind_slug: str = ""
    sources: tuple[str, ...] = ()
    #: "Closed" or "Took place" once its deadlines and events are gone, else "".
    mark: str = ""
    #: Its applications closed (or deadline gone), whatever is still to come: it invites
    #: no one to apply.
    closed: bool = False


@dataclass(frozen=True)
class DigestGroup:
    slug: str
    label: str
    stories: tuple[DigestStory, ...]


@dataclass(frozen=True)
class DigestContent:
    period: Period
    groups: tuple[DigestGroup, ...]
    opening_soon: tuple[SoonEntry, ...]
    closing_soon: tuple[SoonEntry, ...] = ()

    @property
    def story_count(self) -> int:
        return len({s.id for g in self.groups for s in g.stories})


def reminder_allowed(story: Story, config: HeraldConfig) -> bool:
    """Whether the digest may remind its readers of ``story``'s dates ("Closing soon"):
    reminders are on (``[reminders] enabled``) and comms did not switch them off for the
    story, nor chose routes to the digest that send it there without reminders
    (``reminders = false``). The one place that decides it."""
    return config.reminders.enabled and story.reminders and (
        story.targets is not None or routes_allow(story, DIGEST, config.routes))


def _wants(sub_domains: tuple[str, ...] | None, story: Story,
           sub_kinds: tuple[str, ...] | None = None) -> bool:
    """Whether a subscriber with these choices gets ``story``: one of its domains chosen
    (None: every domain) and its kind chosen (None: every kind)."""
    return (sub_domains is None or any(d in sub_domains for d in story.domains)) and \
        (sub_kinds is None or story.kind in sub_kinds)


@dataclass(frozen=True)
class DigestPool:
    """What the release gate lets a period's digest show: the stories it carries
    (``fresh``, by id) and every story released to the digest (for "Opening soon")."""

    stories: tuple[Story, ...]
    fresh: frozenset[int]


def build_digest(subscriber_domains: tuple[str, ...] | None,
                 stories: Sequence[Story] | DigestPool, period: Period, today: date,
                 labels: dict[str, str], domain_order: Sequence[str],
                 subscriber_kinds: tuple[str, ...] | None = None, *,
                 config: HeraldConfig | None = None) -> DigestContent | None:
    """The digest one subscriber gets for ``period``; None when nothing is new for them.
    Given a :class:`DigestPool`, the gate's choice; given bare stories, those first seen in
    the period. ``subscriber_kinds`` (None: every kind) narrows the news, "Closing soon"
    and "Opening soon" to the kinds they chose. ``config`` (default: the defaults) gives
    ``[digest] passed`` and ``closing_soon`` and whether reminders are on."""
    config = config or _DEFAULTS
    cfg = config.digest
    if isinstance(stories, DigestPool):
        chosen = stories.fresh
        stories = stories.stories
        fresh = [s for s in stories if s.id in chosen
                 and _wants(subscriber_domains, s, subscriber_kinds)]
    else:
        fresh = [s for s in stories if period.start <= s.first_seen < period.end
                 and _wants(subscriber_domains, s, subscriber_kinds)]
    if cfg.passed == "omit":
        fresh = [s for s in fresh if not passed_mark(s, today)]
    if not fresh:
        return None
    order = [d for d in domain_order if subscriber_domains is None or d in subscriber_domains]
    grouped: dict[str, list[DigestStory]] = {slug: [] for slug in (*order, "")}
    for story in sorted(fresh, key=lambda s: (s.first_seen, s.id or 0)):
        home = next((d for d in order if d in story.domains), "")
        grouped[home].append(_digest_story(story, labels, today, cfg.closing_soon))
    groups = tuple(DigestGroup(slug, labels.get(slug, slug) if slug else "Other news",
                               tuple(items)) for slug, items in grouped.items() if items)
    wanted = [s for s in stories if _wants(subscriber_domains, s, subscriber_kinds)]
    closing = closing_soon(wanted, today, cfg.closing_soon,
                           lambda s: reminder_allowed(s, config))
    return DigestContent(period, groups, opening_soon(wanted, today), closing)


def _digest_story(story: Story, labels: dict[str, str], today: date,
                  window: timedelta) -> DigestStory:
    tags = tuple(labels.get(t.slug, t.slug) for t in story.tags
                 if t.group in (TagGroup.DOMAIN, TagGroup.PROGRAMME))
    return DigestStory(story.id, one_line(story.title), truncate(one_line(story.summary),
                                                                 SUMMARY_LIMIT),
                       _link(story.url), labels.get(story.kind, story.kind), tags,
                       **story_parts(story, today, window))


# -- rendering (pure) ---------------------------------------------------------------------

_ENV = Environment(loader=PackageLoader("bot", "templates"),
                   autoescape=select_autoescape(enabled_extensions=("html.j2",),
                                                default_for_string=True),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_INLINER = css_inline.CSSInliner(keep_style_tags=False)


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def render_digest(content: DigestContent, *, list_name: str, domains_label: str,
                  unsubscribe_url: str, preferences_url: str,
                  brand: DigestBrand | None = None) -> Rendered:
    """The email for one digest, in the academy's name, logo and colours (``brand``)."""
    subject = one_line(f"{list_name}: {content.period.label}")
    brand = brand or DigestBrand(name=list_name)
    context: dict[str, Any] = {
        "subject": subject, "list_name": list_name, "period_label": content.period.label,
        "brand": brand,
        "groups": [{"label": g.label, "stories": [story_context(s, brand) for s in g.stories]}
                   for g in content.groups],
        "opening_soon": [vars(e) for e in content.opening_soon],
        "closing_soon": [vars(e) for e in content.closing_soon],
        "domains_label": domains_label, "unsubscribe_url": unsubscribe_url,
        "preferences_url": preferences_url,
    }
    html = _INLINER.inline(_ENV.get_template("digest.html.j2").render(**context))
    text = _ENV.get_template("digest.txt.j2").render(**context)
    return Rendered(subject, html, text)


def _header_safe(value: str) -> str:
    """No CR, LF or other control characters in a header value."""
    return "".join(ch for ch in one_line(value) if ch >= " " and ch != "\x7f")


#: Long lines allowed (RFC 5322's 998), so List-Unsubscribe's URLs are never folded into
#: encoded words that mail clients would not read as links.
MAIL_POLICY = email.policy.SMTP.clone(max_line_length=998)
#: For a recipient whose address is not ASCII: headers in UTF-8 (RFC 6532), which only a
#: server offering SMTPUTF8 takes (the sender checks before sending).
MAIL_POLICY_UTF8 = MAIL_POLICY.clone(utf8=True)


def build_message(rendered: Rendered, *, to: str, sender: str, list_name: str,
                  list_domain: str, message_id: str, unsubscribe_url: str,
                  unsubscribe_mailto: str, now: datetime) -> EmailMessage:
    msg = EmailMessage(policy=MAIL_POLICY if to.isascii() else MAIL_POLICY_UTF8)
    msg["Subject"] = _header_safe(rendered.subject)
    msg["From"] = _header_safe(sender)
    msg["To"] = _header_safe(to)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = message_id
    msg["List-Id"] = f"{_header_safe(list_name)} <digest.{list_domain}>"
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>, <{unsubscribe_mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


# -- sending (I/O) ------------------------------------------------------------------------

@dataclass
class DigestStats:
    period: str = ""
    planned: int = 0
    sent: int = 0
    empty: int = 0
    failed: int = 0
    #: Claimed but given back untried (the mail server could not be reached).
    deferred: int = 0
    #: Due, but the email target is paused (the mail server refused Herald's login).
    held: int = 0
    errors: list[str] = field(default_factory=list)


def mail_sender(herald: Herald) -> Any:
    """How Herald sends email: SMTP from ``[digest] smtp_env``, else files under
    ``var/outbox/digest/`` (the digest and the web app's confirmation emails alike)."""
    from channels.email import FileSender, SmtpSender, parse_smtp_url

    cfg = herald.settings.config.digest
    url = herald.settings.environ.get(cfg.smtp_env)
    if not url:
        return FileSender(herald.settings.outbox_dir / "digest")
    ca = str(herald.settings.resolve(cfg.tls_ca_file)) if cfg.tls_ca_file else None
    return SmtpSender(parse_smtp_url(url), ca_file=ca)


def _counted(rows: Iterable[DigestRow], progress: Progress) -> Iterator[DigestRow]:
    """``rows``, each counted done when the loop moves past it."""
    for row in rows:
        yield row
        progress.advance()


class DigestJob:
    """Builds and sends one period's digests for a configured Herald."""

    def __init__(self, herald: Herald) -> None:
        self.herald = herald
        self.cfg: DigestConfig = herald.settings.config.digest
        from bot.tokens import secret_key

        self.signer = Signer(secret_key(herald.settings.environ, herald.var_dir),
                             herald.clock)
        tax = herald.taxonomy
        self.labels = {r.slug: r.label for r in tax.rules}
        self.domain_order = tax.slugs("domain")
        sender_addr = parseaddr(self.cfg.sender)[1]
        self.sender_addr = sender_addr
        self.list_domain = sender_addr.rpartition("@")[2] or "herald.local"
        self.brand = DigestBrand.of(herald.settings.config,
                                    herald.post_context()["source_names"])

    def links(self, sub: Subscriber) -> tuple[str, str, str]:
        """Unsubscribe URL, preferences URL, unsubscribe mailto for one subscriber."""
        token = self.signer.sign(UNSUBSCRIBE, {"s": sub.id, "e": sub.email})
        prefs = self.signer.sign(PREFERENCES, {"s": sub.id, "e": sub.email})
        base = self.cfg.base_url
        return (f"{base}/unsubscribe/{token}", f"{base}/preferences/{prefs}",
                f"mailto:{self.sender_addr}?subject={quote('unsubscribe ' + token)}")

    def compose(self, sub: Subscriber, stories: Sequence[Story] | DigestPool, period: Period,
                now: datetime) -> tuple[EmailMessage, int] | None:
        """The digest email for one subscriber and the number of stories in it; None when
        nothing is new for them."""
        today = now.astimezone(ZoneInfo(self.cfg.timezone)).date()
        content = build_digest(sub.domains, stories, period, today, self.labels,
                               self.domain_order, sub.kinds,
                               config=self.herald.settings.config)
        if content is None:
            return None
        unsubscribe, prefs, mailto = self.links(sub)
        domains_label = "every domain" if sub.domains is None else ", ".join(
            self.labels.get(d, d) for d in sub.domains)
        if sub.kinds is not None:
            domains_label += "; only " + ", ".join(self.labels.get(k, k) for k in sub.kinds)
        rendered = render_digest(content, list_name=self.cfg.list_name,
                                 domains_label=domains_label, unsubscribe_url=unsubscribe,
                                 preferences_url=prefs, brand=self.brand)
        message_id = f"<herald.digest.{sub.id}.{period.key}@{self.list_domain}>"
        message = build_message(rendered, to=mail_address(sub.email),
                                sender=self.cfg.sender, list_name=self.cfg.list_name,
                                list_domain=self.list_domain, message_id=message_id,
                                unsubscribe_url=unsubscribe, unsubscribe_mailto=mailto, now=now)
        return message, content.story_count

    def stories_for(self, period: Period, now: datetime | None = None, *,
                    assign: bool = False) -> DigestPool:
        """What ``period``'s digest may show at ``now``: only stories the release gate
        lets reach the digest (routed or approved there, due, not held, not merged).
        ``assign``: record the period's stories as sent with it (a run does)."""
        now = now or self.herald.clock.now()
        fresh, shown = self.herald.store.digest_stories(period.key, period.end, now,
                                                        assign=assign)
        wanted = set(fresh) | set(shown)
        stories = [s for s in self.herald.store.list_stories(ids=sorted(wanted))
                   if s.id in fresh or s.first_seen >= period.start - OPENING_SOON_LOOKBACK]
        return DigestPool(tuple(stories), frozenset(fresh))

    def sender(self) -> Any:
        return mail_sender(self.herald)

    def run(self, period: Period, now: datetime, *, progress: Progress = SILENT,
            force: bool = False) -> DigestStats:
        """Send ``period``'s digests that are not sent yet; safe to run again at any time.
        ``progress`` counts the subscribers claimed and the ones done. While the mail
        server's refusal of our login pauses the ``digest`` target, only a due probe (or
        ``force``: a person asked) tries; a refusal gives every claim back untried
        (:mod:`bot.pause`)."""
        store = self.herald.store
        owner = self.herald.owner
        stats = DigestStats(period=period.key)
        stats.planned = store.plan_digests(period.key, now)
        lease = self.herald.settings.config.worker.lease
        state = Gate.OPEN
        if EMAIL in store.paused_targets():
            due = store.count_due_digests(period.key, now)
            if not due:
                return stats
            state = gate(store, EMAIL, now, force=force)
            if state is Gate.PAUSED:
                stats.held = due
                return stats
        claims = store.claim_digests(period.key, owner, now, lease)
        if not claims:
            return stats
        progress.add_total(len(claims))
        stories = self.stories_for(period, now, assign=True)
        subs = {s.id: s for s in store.list_subscribers()}
        policy = RetryPolicy(timedelta(minutes=5), timedelta(hours=6), self.cfg.max_attempts)
        with self.sender() as sender:
            for n, row in enumerate(_counted(claims, progress)):
                sub = subs.get(row.subscriber_id)
                if sub is None or not sub.active:
                    if store.finish_digest(row.id, owner=owner, status="empty", now=now,
                                           error="unsubscribed before sending"):
                        stats.empty += 1
                    continue
                if not store.renew_digest_lease(row.id, owner, self.herald.clock.now(), lease):
                    continue  # another run has it now
                try:
                    composed = self.compose(sub, stories, period, now)
                    if composed is None:
                        if store.finish_digest(row.id, owner=owner, status="empty", now=now):
                            stats.empty += 1
                        continue
                    message, count = composed
                    message_id = sender.send(message)
                except TargetAuthError as exc:
                    # The server refused our login: no digest can go. The target pauses;
                    # this digest and the rest go back untried and uncounted.
                    refused(store, EMAIL, str(exc), now,
                            probing=state is Gate.PROBE)
                    stats.held += sum(store.release_digest(r.id, owner=owner, retry_at=now)
                                      for r in claims[n:])
                    stats.errors.append(f"target {EMAIL} paused: {exc}")
                    break
                except SmtpConnectionError as exc:
                    # The server, not the recipient: this digest failed; the rest were
                    # never tried, so they go back as they were, for later.
                    self._failed(stats, row, sub, exc, now + CONNECTION_RETRY, now,
                                 line=f"stopped the batch: {exc}")
                    rest = claims[n + 1:]
                    stats.deferred += sum(store.release_digest(
                        r.id, owner=owner, retry_at=now + CONNECTION_RETRY) for r in rest)
                    log.warning("digest batch stopped, %d given back for later: %s",
                                stats.deferred, exc)
                    break
                except (ChannelError, HeraldError) as exc:
                    self._failed(stats, row, sub, exc, policy.decide(exc, row.attempts, now),
                                 now)
                    continue
                except Exception as exc:
                    # A fault with one subscriber's digest holds back no one else.
                    log.exception("digest for subscriber %d failed", sub.id)
                    self._failed(stats, row, sub, exc, policy.decide(exc, row.attempts, now),
                                 now)
                    continue
                if not store.finish_digest(row.id, owner=owner, status="sent", now=now,
                                           message_id=message_id, stories=count):
                    log.warning("digest %d was sent, but this run's lease on it had run out",
                                row.id)
                stats.sent += 1
                if state is Gate.PROBE:  # the server took our login again
                    store.resume_target(EMAIL, self.herald.clock.now())
                    state = Gate.OPEN
        return stats

    def _failed(self, stats: DigestStats, row: DigestRow, sub: Subscriber, exc: Exception,
                retry_at: datetime | None, now: datetime, *, line: str | None = None) -> None:
        """Record one digest's failure (dead without ``retry_at``), if this run holds it."""
        error = f"{type(exc).__name__}: {exc}"
        if self.herald.store.finish_digest(row.id, owner=self.herald.owner,
                                           status="failed" if retry_at else "dead", now=now,
                                           error=error, retry_at=retry_at):
            stats.failed += 1
        stats.errors.append(line or f"{sub.email}: {exc}")
        log.warning("digest for subscriber %d failed: %s", sub.id, exc)

    def preview(self, sub: Subscriber, period: Period, now: datetime, out: Path) -> Path:
        """Write one digest's HTML to ``out`` (a file or a folder) without sending it."""
        composed = self.compose(sub, self.stories_for(period, now), period, now)
        if composed is None:
            raise HeraldError(f"{sub.email} has nothing new for {period.label}")
        html = composed[0].get_body(("html",))
        path = out / f"digest-{period.key}-{sub.id}.html" if out.is_dir() else out
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html.get_content() if html else "", encoding="utf-8")
        return path
