"""Herald's configuration: one TOML file plus the environment, validated at start.

``load_config(path, environ)`` is the one reader. It takes the environment as a
mapping (tests pass a dict) and turns every problem into a :class:`ConfigError`
that names the file, the key and what is allowed. Secrets stay in the
environment: the file names the variable (``token_env = "SLACK_BOT_TOKEN"``),
never the value, and only the part that uses a secret reads it (loading a config needs
none; ``herald config check`` lists the missing ones). ``DATABASE_URL`` overrides
``[database] url``.

Relative paths in a file (the SQLite database, ``var/``, the outbox, the taxonomy, local
feeds, tagger weights) are read from the file's folder, wherever Herald is started. The
one exception is the bundled default config: it lives inside the installed package, so
its ``var/`` (database, outbox) is in the working folder.

This module knows the config's shape only. Checks that need the channels, the taxonomy
or the tagger (a target's options, a route's tags, the weights file) are composition and
live in :mod:`bot.app` (``check_settings``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

from bot import bundled
from bot.durations import parse_duration, parse_size
from bot.errors import ConfigError
from bot.pipeline.similar import MergeConfig

DEFAULT_CONFIG = bundled.default_config()
DEFAULT_TAXONOMY = bundled.taxonomy()
#: The config a folder made by ``herald init`` holds; found in the working folder.
LOCAL_CONFIG = "herald.toml"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
NAME_HELP = "lowercase letters, digits, '-', '_' or '.', starting with a letter or digit"

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _env_name(value: str) -> str:
    """A ``*_env`` key names an environment variable. A value that cannot be one is most
    likely the secret itself, pasted in the wrong place: refuse it without repeating it."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", value):
        raise ValueError("this key takes the NAME of an environment variable (letters, "
                         "digits and _, e.g. SLACK_BOT_TOKEN), not the secret itself; put "
                         "the secret in the environment under that name (the value given "
                         "is not shown)")
    return value


#: The name of an environment variable that holds a secret (``token_env``, ``smtp_env``…).
EnvName = Annotated[str, AfterValidator(_env_name)]
Size = Annotated[int, BeforeValidator(parse_size)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Strict):
    url: str = "sqlite:///var/herald.db"


class SourceConfig(_Strict):
    """A source: ``rss`` (RSS, Atom or JSON Feed at a URL or path) or ``x`` (an X account)."""

    name: str = Field(pattern=NAME_PATTERN)
    type: Literal["rss", "x"] = "rss"
    url: str | None = Field(default=None, min_length=1)
    every: Duration = timedelta(minutes=15)
    enabled: bool = True
    #: Announce the entries a first poll finds that are older than worker.announce_since.
    announce_backlog: bool = False
    #: What people call the feed ("Academy news"), shown instead of its name; the key
    #: may also be written ``title``.
    display_name: str | None = Field(default=None, min_length=1, max_length=120,
                                     validation_alias=AliasChoices("display_name", "title"))
    # X only:
    username: str | None = Field(default=None, pattern=r"^@?[A-Za-z0-9_]{1,15}$")
    token_env: EnvName = "X_BEARER_TOKEN"
    include_replies: bool = False
    #: Others' posts reposted or quoted; reposts and quotes of the account's own posts
    #: are always kept (they join their post's story).
    include_retweets: bool = False
    max_results: int = Field(default=100, ge=5, le=100)
    max_pages: int = Field(default=3, ge=1, le=20)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):", value)
        # One letter before ':' is a Windows drive (C:\feeds\news.xml), not a scheme.
        if scheme:
            name = scheme.group(1).lower()
            if name not in ("http", "https", "file"):
                raise ValueError(f"unknown URL scheme {name!r} in {value!r}; a source's url "
                                 "is an http:// or https:// URL, or a local path")
            if name != "file" and not re.match(r"https?://[^/?#\s]+", value, re.IGNORECASE):
                raise ValueError(f"{value!r} names no host; write it as "
                                 "https://example.org/feed.xml")
        return value

    def type_problem(self) -> tuple[str, str] | None:
        """(key, message) when the keys do not fit the source's type."""
        if self.type == "rss" and not self.url:
            return "url", "required key is missing: an rss source needs url (an http(s) " \
                          "URL or a local path)"
        if self.type == "x" and not self.username:
            return "username", "required key is missing: an x source needs username " \
                               "(the account's @handle)"
        if self.type == "rss" and self.username:
            return "username", "username is for x sources; an rss source takes url"
        if self.type == "x" and self.url:
            return "url", "an x source takes username, not url"
        return None

    @property
    def location(self) -> str:
        """What the store keeps as the source's address."""
        return f"x:@{self.handle}" if self.type == "x" else str(self.url)

    @property
    def handle(self) -> str:
        return (self.username or "").lstrip("@")


class TargetConfig(BaseModel):
    """A target; keys other than these belong to its channel type and are checked there."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    type: str = Field(min_length=1)
    enabled: bool = True

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class RouteConfig(_Strict):
    domains: list[str] | None = None
    kinds: list[str] | None = None
    programmes: list[str] | None = None
    sources: list[str] | None = None
    to: list[str] = Field(min_length=1)
    #: Reminders before key dates for the stories this route sends (issue #17).
    reminders: StrictBool = True


#: The kinds of key date a reminder goes before, and how many days before (0: that day).
DEFAULT_REMINDER_DAYS: dict[str, list[int]] = {
    "applications-close": [7, 1], "deadline": [7, 1], "event": [0],
    "applications-open": [0]}


class RemindersConfig(_Strict):
    """Reminders before a released story's key dates (bot.reminders): a reply in the Slack
    post's thread, a Teams card naming the original, the digest's "Closing soon"."""

    # Strict (issue #17): "yes", 1 or [true] are refused, not read as on or one day.
    enabled: StrictBool = True
    #: Key date meaning (story_dates.what) -> days before it that a reminder goes.
    days_before: dict[str, list[StrictInt]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_REMINDER_DAYS.items()})
    #: The local time of day reminders go ([worker] timezone), "HH:MM".
    at: str = "09:00"
    #: Slack: the thread reply is also sent to the channel (reply_broadcast).
    also_to_channel: StrictBool = False

    @field_validator("days_before")
    @classmethod
    def _days(cls, value: dict[str, list[int]]) -> dict[str, list[int]]:
        known = set(DEFAULT_REMINDER_DAYS)
        for what, days in value.items():
            if what not in known:
                raise ValueError(f"{what!r} is not a kind of key date; allowed: "
                                 f"{', '.join(sorted(known))}")
            if any(d < 0 or d > 90 for d in days):
                raise ValueError(f"days before {what} must be 0 to 90, got {days}")
        return value

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
        if not m:
            raise ValueError(f"{value!r} is not a time of day such as '09:00'")
        return f"{int(m.group(1)):02d}:{m.group(2)}"


class WorkerConfig(_Strict):
    collect_tick: Duration = timedelta(seconds=30)
    dispatch_every: Duration = timedelta(seconds=10)
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_base: Duration = timedelta(seconds=30)
    backoff_cap: Duration = timedelta(hours=6)
    source_backoff_cap: Duration = timedelta(hours=12)
    lease: Duration = timedelta(minutes=5)
    timezone: str = "Europe/London"
    #: A new source's first poll announces only entries newer than this (a backfill).
    announce_since: Duration = timedelta(days=3)
    #: Processes that parse feeds and prepare their entries (bot.pipeline.pool) while the
    #: worker stores: unset, one a core; 0 or 1, none (all in the worker's own process).
    processes: StrictInt | None = Field(default=None, ge=0, le=64)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as "
                             "'Europe/London'") from exc
        return value


class HttpConfig(_Strict):
    #: Bounds each network operation of a fetch (connect, each read).
    timeout: Duration = timedelta(seconds=20)
    #: Bounds a whole fetch: connect, headers and body together, however slowly a
    #: server sends them (a feed that takes longer fails alone; the others go on).
    deadline: Duration = timedelta(seconds=30)
    max_body: Size = 10 * 1000 * 1000
    max_redirects: int = Field(default=5, ge=0, le=20)
    concurrency: int = Field(default=8, ge=1, le=64)     # sources read at once
    per_host: int = Field(default=2, ge=1, le=16)        # at once against one host
    #: Networks feeds may be fetched from although they are loopback, private or
    #: link-local (refused otherwise: see bot.sources.guard), e.g. ["10.1.2.0/24"].
    allow_networks: list[str] = []

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not a network such as '10.0.0.0/8'") from None
        return value
    user_agent: str = "Herald/0.1 (+https://github.com/herald; feed collector)"


class PathsConfig(_Strict):
    """``[paths]``, relative to the config file's folder (see the module docstring)."""

    var: str = "var"
    outbox: str = "var/outbox"
    #: The tag rules; unset: the bundled ones (``herald init`` writes a copy to edit).
    taxonomy: str | None = None


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SCHEDULE_HELP = "a weekday and a time such as 'mon 08:00'"


def parse_schedule(text: str) -> tuple[int, int, int]:
    """``"mon 08:00"`` → (weekday 0-6, hour, minute)."""
    match = re.fullmatch(r"\s*([a-zA-Z]{3})[a-zA-Z]*\s+(\d{1,2}):(\d{2})\s*", text)
    if not match or match.group(1).lower() not in WEEKDAYS:
        raise ValueError(f"expected {SCHEDULE_HELP}, got {text!r}")
    hour, minute = int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise ValueError(f"expected {SCHEDULE_HELP}, got {text!r}")
    return WEEKDAYS.index(match.group(1).lower()), hour, minute


class DigestConfig(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    enabled: bool = True
    smtp_env: EnvName = "SMTP_URL"
    sender: str = Field(default="Academy news <news@example.org>", alias="from")
    schedule: str = "mon 08:00"
    timezone: str = "Europe/London"
    base_url: str = "http://localhost:8000"
    list_name: str = "Academy news"
    tls_ca_file: str | None = None
    max_attempts: int = Field(default=5, ge=1, le=50)
    #: A story whose deadlines and events have all passed: "mark" it beside its title
    #: ("Closed", "Took place") or "omit" it from the digest.
    passed: Literal["mark", "omit"] = "mark"
    #: How far ahead "Closing soon" looks, and within which a key date shows days left.
    closing_soon: Duration = timedelta(days=14)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return WorkerConfig._known_zone(value)

    @field_validator("closing_soon")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        if not timedelta(days=1) <= value <= timedelta(days=366):
            raise ValueError("closing_soon must be 1d to 366d, e.g. \"14d\"")
        return value

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("base_url must be an http(s) URL, e.g. https://herald.example.org")
        return value.rstrip("/")

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        from email.utils import parseaddr

        _name, addr = parseaddr(value)
        if "@" not in addr or any(c in value for c in "\r\n"):
            raise ValueError(f"{value!r} is not an address such as 'Academy news "
                             "<news@example.org>'")
        return value


_MERGE = MergeConfig()


class MergeSettings(_Strict):
    """``[merge]``: cross-source merging. The defaults are
    :class:`bot.pipeline.similar.MergeConfig`'s (the tuned ones, with why each is what it
    is): one definition, so the config cannot drift from what was measured."""

    enabled: bool = True
    window: Duration = _MERGE.window
    strong_window: Duration = _MERGE.strong_window
    text_threshold: float = Field(default=_MERGE.text_threshold, gt=0, le=1)
    min_shared_words: int = Field(default=_MERGE.min_shared_words, ge=1, le=100)
    dated_text_threshold: float = Field(default=_MERGE.dated_text_threshold, gt=0, le=1)
    link_text_threshold: float = Field(default=_MERGE.link_text_threshold, gt=0, le=1)

    def merge_config(self) -> MergeConfig | None:
        """The pipeline's settings (``None``: merging is off)."""
        if not self.enabled:
            return None
        return MergeConfig(window=self.window, strong_window=self.strong_window,
                           text_threshold=self.text_threshold,
                           min_shared_words=self.min_shared_words,
                           dated_text_threshold=self.dated_text_threshold,
                           link_text_threshold=self.link_text_threshold)


class TaggingConfig(_Strict):
    """``[tagging]``: the learned tagger beside the rules (bot.pipeline.learned).

    ``model``: ``"auto"`` (the weights ``herald tags train`` wrote to ``<var>/tagger.json``
    if there are any, else the bundled ones), ``"bundled"``, ``"off"`` (rules only), or the
    path of a weights file."""

    model: str = "auto"


class WebConfig(_Strict):
    """``[web]``: the comms web app (``herald serve``)."""

    #: Announcements need an approver who is not their author (four eyes). Off: anyone
    #: signed in publishes their own.
    approval: bool = True
    #: Mark cookies Secure (sent over https only; browsers also accept them on
    #: http://localhost). Turn off only to try the app over plain http on another host.
    secure_cookies: bool = True
    session: Duration = timedelta(hours=12)
    #: Failed sign-ins before an account locks, and for how long.
    max_failed_logins: int = Field(default=5, ge=1, le=100)
    lock_for: Duration = timedelta(minutes=15)
    #: Requests per minute from one address to the sign-in and subscribe forms.
    login_rate: int = Field(default=10, ge=1, le=10_000)
    subscribe_rate: int = Field(default=5, ge=1, le=10_000)
    #: At most this many emails (confirmations, preference links, invitations, password
    #: resets, test digests) to one address per ``mail_window``, whoever asks for them and
    #: from wherever. Notifications have their own bound, ``[notify] mails_per_address``.
    mails_per_address: int = Field(default=3, ge=1, le=1000)
    mail_window: Duration = timedelta(hours=24)
    #: How long a confirmation link (double opt-in) and a preferences link stay valid.
    confirm_for: Duration = timedelta(days=3)
    preferences_for: Duration = timedelta(days=60)
    #: How long a staff invitation link and a password-reset link stay valid (each is
    #: used once).
    invite_for: Duration = timedelta(days=7)
    reset_for: Duration = timedelta(hours=1)
    #: /healthz fails when no worker has beaten for this long.
    heartbeat_stale: Duration = timedelta(minutes=2)
    #: /healthz fails when no worker finished a collect cycle for this long (a worker
    #: beats, but its collector is stuck). Default: five collect ticks, at least 10 min.
    collector_stale: Duration | None = None


#: The button a post carries, by the story's kind; any other kind gets DEFAULT_BUTTON.
DEFAULT_BUTTONS = {"cohort-opening": "Apply", "event": "Book your place",
                   "coaching-offer": "Request a coach"}
DEFAULT_BUTTON = "Read more"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class BrandConfig(_Strict):
    """``[brand]``: how the academy is named and drawn on the public pages, in the digest
    and in the posts. ``name`` empty: ``[digest] list_name``, else "Herald" (see
    :func:`brand_name`)."""

    name: str = Field(default="", max_length=100)
    logo_url: str | None = None
    privacy_url: str | None = None
    colour: str = "#005eb8"
    accent_colour: str = "#003087"
    #: Button labels by kind (a kind slug: the label); kinds not named read "Read more".
    buttons: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_BUTTONS))

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("the name must be one line without control characters")
        return value.strip()

    @field_validator("logo_url", "privacy_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("https://", "http://")) or any(
                c.isspace() or ord(c) < 32 or c in '"<>\\' for c in value) or len(value) > 2000:
            raise ValueError(f"{value[:80]!r} is not an http(s) URL such as "
                             "https://academy.example.org/privacy")
        return value

    @field_validator("colour", "accent_colour")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _COLOUR.fullmatch(value):
            raise ValueError(f"{value[:20]!r} is not a colour written #rrggbb, e.g. #005eb8")
        return value.lower()

    @field_validator("buttons")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for kind, label in value.items():
            label = " ".join(label.split())
            if not label or len(label) > 30:
                raise ValueError(f"the button for {kind!r} must be 1 to 30 characters")
            out[kind] = label
        return out

    def button(self, kind: str) -> str:
        """The label of a post's button for a story of ``kind``."""
        return self.buttons.get(kind, DEFAULT_BUTTON)
class NotifyConfig(_Strict):
    """``[notify]``: who hears of what happens to an announcement (``bot.notify``):
    approvers of a submission; its author of a send-back, the approval, the send and a
    failed send. By email (through the outmail table, at most ``mails_per_address`` to one
    person per ``[web] mail_window``, counted apart from the public forms' emails so
    notifications never use up the share for a password reset or an invitation) and, if
    ``slack_target`` names a configured Slack target, in Slack too, with that target's
    token: a post in ``channel`` and/or, with ``dm``, a direct message to each person,
    found by their email (``users.lookupByEmail``). Each person can turn their
    notifications off (``/account/notifications``)."""

    enabled: bool = True
    email: bool = True
    slack_target: str | None = Field(default=None, pattern=NAME_PATTERN)
    #: A comms channel (name or id) for every notification; none: no channel posts.
    channel: str | None = Field(default=None, min_length=1, max_length=80)
    dm: bool = False
    #: Notification emails to one person per ``[web] mail_window`` (a safety net against a
    #: loop; they are caused by signed-in staff, so the bound is generous).
    mails_per_address: int = Field(default=50, ge=1, le=10_000)


class HeraldConfig(_Strict):
    database: DatabaseConfig = DatabaseConfig()
    sources: list[SourceConfig] = []
    targets: list[TargetConfig] = []
    routes: list[RouteConfig] = []
    worker: WorkerConfig = WorkerConfig()
    http: HttpConfig = HttpConfig()
    paths: PathsConfig = PathsConfig()
    digest: DigestConfig = DigestConfig()
    merge: MergeSettings = MergeSettings()
    tagging: TaggingConfig = TaggingConfig()
    web: WebConfig = WebConfig()
    brand: BrandConfig = BrandConfig()
    notify: NotifyConfig = NotifyConfig()
    reminders: RemindersConfig = RemindersConfig()


def brand_name(config: HeraldConfig) -> str:
    """The academy's name: ``[brand] name``, else ``[digest] list_name``, else "Herald"."""
    return config.brand.name or config.digest.list_name.strip() or "Herald"

def collector_stale(config: HeraldConfig) -> timedelta:
    """How long without a finished collect cycle /healthz accepts (see WebConfig)."""
    if config.web.collector_stale is not None:
        return config.web.collector_stale
    return max(timedelta(minutes=10), 5 * config.worker.collect_tick)


class Settings:
    """A validated config with the context it was read in (its file and the environment)."""

    def __init__(self, config: HeraldConfig, file: Path | None,
                 environ: Mapping[str, str], *, cwd: Path | None = None) -> None:
        self.config = config
        self.file = file
        self.environ = environ
        #: The working folder when the config was read: the bundled default keeps its
        #: var/ there (and a config without a file reads its paths from there).
        self.cwd = (cwd or Path.cwd()).resolve()

    @property
    def bundled(self) -> bool:
        """True for the embedded default config (it lives inside the installed package)."""
        return self.file is not None and _same_file(self.file, DEFAULT_CONFIG)

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths of inputs (feeds, taxonomy, weights) are read from:
        the config file's."""
        return self.file.resolve().parent if self.file else self.cwd

    @property
    def data_dir(self) -> Path:
        """Folder that relative paths of what Herald writes (the SQLite database, var/,
        the outbox) are in: the config file's, but the working folder for the bundled
        default (the package's folder is not ours to write in)."""
        return self.cwd if self.bundled else self.base_dir

    @property
    def database_url(self) -> str:
        """The database URL, a relative SQLite path made absolute: ``DATABASE_URL``'s
        against the working folder, the file's against :attr:`data_dir`."""
        env = self.environ.get("DATABASE_URL")
        return absolute_sqlite_url(env or self.config.database.url,
                                   self.cwd if env else self.data_dir)

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def runtime_path(self, path: str) -> Path:
        """A runtime path (var/, outbox), relative to :attr:`data_dir`."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.data_dir / p

    @property
    def taxonomy_path(self) -> Path:
        """The configured tag rules, else the bundled ones."""
        configured = self.config.paths.taxonomy
        return self.resolve(configured) if configured else DEFAULT_TAXONOMY

    @property
    def var_dir(self) -> Path:
        return self.runtime_path(self.config.paths.var)

    @property
    def trained_tagger_path(self) -> Path:
        """Where ``herald tags train`` writes the weights it fits."""
        return self.var_dir / "tagger.json"

    @property
    def tagger_path(self) -> Path | None:
        """The weights file the tagger applies; ``None``: the bundled weights. Raises
        nothing: ``"off"`` is asked for with :attr:`tagger_off`."""
        model = self.config.tagging.model
        if model in ("auto", "bundled", "off"):
            trained = self.trained_tagger_path
            return trained if model == "auto" and trained.exists() else None
        return self.resolve(model)

    @property
    def tagger_off(self) -> bool:
        return self.config.tagging.model == "off"

    @property
    def outbox_dir(self) -> Path:
        return self.runtime_path(self.config.paths.outbox)

    def target(self, name: str) -> TargetConfig:
        for target in self.config.targets:
            if target.name == name:
                return target
        raise ConfigError(f"no target named {name!r}", key="targets", file=str(self.file))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def absolute_sqlite_url(url: str, base: Path) -> str:
    """``sqlite:///var/herald.db`` with its path made absolute against ``base`` (other
    URLs, in-memory SQLite and unparsable text are returned as they are)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:") or Path(database).expanduser().is_absolute():
        return url
    return parsed.set(database=str(base / database)).render_as_string(hide_password=False)


def config_path(explicit: str | os.PathLike[str] | None,
                environ: Mapping[str, str], cwd: Path | None = None) -> Path:
    """Which config file to read: ``--config``, then ``HERALD_CONFIG``, then
    ``herald.toml`` in the working folder (what ``herald init`` writes), then the bundled
    default."""
    if explicit:
        return Path(explicit)
    if environ.get("HERALD_CONFIG"):
        return Path(environ["HERALD_CONFIG"])
    local = (cwd or Path.cwd()) / LOCAL_CONFIG
    return local if local.is_file() else DEFAULT_CONFIG


def load_config(path: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and cross-check a config file; raise ConfigError on any problem.

    Needs no secret. The checks that need the channels, the taxonomy or the tagger are
    :func:`bot.app.check_settings` (``bot.app.load_settings`` does both)."""
    env = dict(os.environ if environ is None else environ)
    file = config_path(path, env)
    try:
        with open(file, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("the config file does not exist", file=str(file)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(file)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", file=str(file)) from None
    return parse_config(data, file=file, environ=env)


def parse_config(data: dict[str, Any], *, file: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> Settings:
    """Validate already-parsed TOML data (see :func:`load_config`)."""
    env = dict(os.environ if environ is None else environ)
    try:
        config = HeraldConfig.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, data, file) from None
    settings = Settings(config, file, env)
    _cross_check(settings)
    return settings


def _key_path(loc: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int):
            label = f"[{part}]"
            if isinstance(node, list) and part < len(node):
                node = node[part]
                if isinstance(node, dict) and isinstance(node.get("name"), str):
                    label = f"[{part}] ({node['name']})"
            parts.append(label)
        else:
            node = node.get(part) if isinstance(node, dict) else None
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = HeraldConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        model = next((a for a in (annotation, *args)
                      if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return sorted(model.model_fields)


def _config_error(exc: ValidationError, data: dict[str, Any], file: Path | None) -> ConfigError:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    key = _key_path(loc, data)
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc)) or "none"
        message = f"unknown key; allowed here: {allowed}"
    elif err["type"] == "missing":
        message = "required key is missing"
    else:
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch":
            message = f"{err['input']!r} is not a valid name ({NAME_HELP})"
        if err["type"] == "literal_error":
            message = f"{err['input']!r} is not allowed; {err['msg'].lower()}"
        if err["type"] == "bool_type":  # a StrictBool given "yes", 1…
            message = (f"{err['input']!r} is not true or false (write true or false, "
                       "without quotes)")
        if err["type"] == "int_type":  # a StrictInt given true, 1.5, "1"…
            message = f"{err['input']!r} is not a whole number"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(message, key=key, file=str(file) if file else None)


def _duplicates(names: list[str]) -> list[str]:
    seen: set[str] = set()
    repeated: set[str] = set()
    for name in names:
        (repeated if name in seen else seen).add(name)
    return sorted(repeated)


def _cross_check(settings: Settings) -> None:
    """Checks that span sections: names, routes' targets and sources, files the config
    names (feeds, taxonomy, weights). Channel options, route tags and the weights' content
    are checked by :func:`bot.app.check_settings`."""
    cfg = settings.config
    file = str(settings.file) if settings.file else None
    for section, names in (("sources", [s.name for s in cfg.sources]),
                           ("targets", [t.name for t in cfg.targets])):
        dup = _duplicates(names)
        if dup:
            raise ConfigError(f"names must be unique; repeated: {', '.join(dup)}",
                              key=section, file=file)
    from_env = bool(settings.environ.get("DATABASE_URL"))
    _check_database_url(settings.database_url, file,
                        key="DATABASE_URL (environment)" if from_env else "database.url")
    for i, source in enumerate(cfg.sources):
        key = f"sources[{i}] ({source.name})"
        problem = source.type_problem()
        if problem:
            raise ConfigError(problem[1], key=f"{key}.{problem[0]}", file=file)
        if source.type == "rss" and source.enabled and source.url \
                and not source.url.lower().startswith(("http://", "https://")):
            _check_file(settings, _local_feed(source.url), f"{key}.url", "feed file")
    if cfg.paths.taxonomy:
        _check_file(settings, cfg.paths.taxonomy, "paths.taxonomy", "taxonomy file")
    if cfg.tagging.model not in ("auto", "bundled", "off"):
        _check_file(settings, cfg.tagging.model, "tagging.model", "tagger weights file")
    target_names = {t.name for t in cfg.targets}
    if "digest" in target_names:
        raise ConfigError("'digest' is the weekly digest's own name (routes and approvals "
                          "send stories to it); give this target another name",
                          key="targets", file=file)
    if cfg.digest.enabled:
        target_names.add("digest")
    source_names = {s.name for s in cfg.sources}
    for i, route in enumerate(cfg.routes):
        key = f"routes[{i}]"
        for name in route.to:
            if name not in target_names:
                raise ConfigError(
                    f"unknown target {name!r}; defined targets: "
                    f"{', '.join(sorted(target_names)) or 'none'}", key=f"{key}.to", file=file)
        for name in route.sources or []:
            # Feeds added with `herald feeds add` live in the database; allow any name
            # that is a valid source name, so routes can name them ahead of time.
            if name not in source_names and not re.match(NAME_PATTERN, name):
                raise ConfigError(f"{name!r} is not a valid source name ({NAME_HELP})",
                                      key=f"{key}.sources", file=file)
    slack = cfg.notify.slack_target
    if slack is not None:
        found = next((t for t in cfg.targets if t.name == slack), None)
        if found is None or found.type != "slack":
            slack_names = sorted(t.name for t in cfg.targets if t.type == "slack")
            raise ConfigError(f"{slack!r} is not a configured Slack target; Slack targets: "
                              f"{', '.join(slack_names) or 'none'}",
                              key="notify.slack_target", file=file)
        if cfg.notify.channel is None and not cfg.notify.dm:
            raise ConfigError("a Slack target for notifications needs somewhere to post: "
                              "set channel, or dm = true", key="notify", file=file)


def _local_feed(location: str) -> str:
    """The path of a local feed (``file://`` URL or path)."""
    if location.lower().startswith("file://"):
        from urllib.parse import unquote, urlsplit

        return unquote(urlsplit(location).path)
    return location


def _check_file(settings: Settings, path: str, key: str, what: str) -> None:
    """A file the config names must exist; the error says where Herald looked."""
    found = settings.resolve(path)
    if found.is_file():
        return
    where = "" if Path(path).expanduser().is_absolute() else \
        f" ({path!r} is read relative to the config file's folder, {settings.base_dir})"
    problem = "is a folder, not a file" if found.is_dir() else "does not exist"
    raise ConfigError(f"the {what} {found} {problem}{where}", key=key,
                      file=str(settings.file) if settings.file else None)


def _check_database_url(url: str, file: str | None, key: str = "database.url") -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("not a database URL; use sqlite:///var/herald.db or "
                          "postgresql+psycopg://user@host/db", key=key,
                          file=file) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"database {parsed.get_backend_name()!r} is not supported; "
                          "use sqlite or postgresql", key=key, file=file)
