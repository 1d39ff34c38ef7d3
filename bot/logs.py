"""Herald's log output, for people and for machines, set up once by the command line.

Three forms, all on stderr (stdout is for what a command prints: panels, tables, JSON):

- ``rich``: on a terminal, short lines through rich's handler (``HH:MM:SS``, the level, the
  message; the logger's name too with ``--verbose``);
- ``text``: where stderr is a file or a pipe, one plain line per record:
  ``2026-07-14 10:02:03Z WARNING collect: source news failed …``;
- ``json`` (``--log-format json`` or ``HERALD_LOG_FORMAT=json``): one JSON object a line:
  ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, the ``extra={…}`` fields a
  call passed, and ``exc`` (the traceback) when there is one. The web server's records
  (``uvicorn.error``, ``uvicorn.access``) go through the same handler; an access line also
  carries ``client``, ``method``, ``path``, ``status``.

Libraries are kept quiet (warnings only) so that Herald's own lines are read. Tokens in
the signed links (``/unsubscribe/TOKEN``, invitations, resets …) are replaced by ``***`` in access
lines: a log is read by more people than the token's owner.

:func:`held` keeps records back while something else prints to the terminal (the console
channel's panels in ``herald run --once``) and writes them, in order, afterwards.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

FORMATS = ("auto", "text", "json")

#: Library loggers and the level below which they are not shown.
QUIET = {"apscheduler": logging.WARNING, "httpx": logging.WARNING,
         "httpcore": logging.WARNING, "alembic": logging.WARNING,
         # slack_sdk logs every refused call at ERROR; Herald says it once, in its words.
         "slack_sdk": logging.CRITICAL, "tweepy": logging.WARNING,
         "requests_oauthlib": logging.WARNING, "urllib3": logging.WARNING,
         "multipart": logging.WARNING, "python_multipart": logging.WARNING,
         "asyncio": logging.WARNING, "aiosmtpd": logging.WARNING,
         "mail.log": logging.WARNING}
#: Paths whose next segment is a bearer token (signed links that need no sign-in).
TOKEN_PATHS = ("/confirm/", "/preferences/", "/unsubscribe/", "/setup/", "/invite/",
               "/reset/")

#: LogRecord attributes that are not a call's ``extra`` fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "color_message", "taskName"}

_state: dict[str, Any] = {"mode": None, "handler": None}


def resolve_mode(fmt: str | None, stream: TextIO | None = None) -> str:
    """``rich``, ``text`` or ``json`` for a requested format (``auto``: rich on a terminal,
    text elsewhere)."""
    fmt = (fmt or "auto").lower()
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt != "auto":
        return fmt
    stream = stream or sys.stderr
    try:
        return "rich" if stream.isatty() else "text"
    except (AttributeError, ValueError):  # a closed or odd stream
        return "text"


def mode() -> str:
    """The form configured last (``text`` before any)."""
    return _state["mode"] or "text"


def configure(fmt: str | None = "auto", *, verbose: bool = False,
              level: int | None = None, console: Any = None) -> str:
    """Send Herald's records (and the libraries' warnings) to stderr in the chosen form.

    ``level``: the lowest level shown (default: WARNING on a terminal, INFO elsewhere;
    INFO with ``verbose``). ``console``: the rich console to write to on a terminal (the
    one progress bars use, so that lines print above a bar). Calling it again replaces the
    handler it installed; other handlers on the root logger (a test's) are left alone.
    Returns the form."""
    chosen = resolve_mode(fmt)
    if level is None:
        level = logging.INFO if verbose or chosen != "rich" else logging.WARNING
    handler = _handler(chosen, verbose, console)
    handler.setLevel(level)
    handler.addFilter(_redact_tokens)
    root = logging.getLogger()
    old = _state["handler"]
    if old is not None:
        root.removeHandler(old)
    root.addHandler(handler)
    _state.update(mode=chosen, handler=handler)
    # Herald's loggers pass INFO on to the handlers, whose level
    # decides; the root logger's own level is left alone.
    for ours in ("herald", "bot", "channels"):
        logging.getLogger(ours).setLevel(logging.INFO)
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(quiet)
    # The web server's lines: on a terminal only its warnings (the start-up block says where
    # it listens) unless --verbose; everywhere else its start, stop and every request.
    human = chosen == "rich" and not verbose
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING if human else logging.INFO)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING if human else logging.INFO)
    return chosen


def reset() -> None:
    """Take the handler :func:`configure` installed off the root logger (tests)."""
    handler = _state["handler"]
    if handler is not None:
        logging.getLogger().removeHandler(handler)
    _state.update(mode=None, handler=None)


@contextmanager
def held() -> Iterator[None]:
    """Keep Herald's handler from writing until the block ends, then write what it kept."""
    handler = _state["handler"]
    if not isinstance(handler, _Holding):
        yield
        return
    handler.hold()
    try:
        yield
    finally:
        handler.release_held()


# ----------------------------------------------------------------------------- handlers

class _Holding(logging.Handler):
    """A handler that can keep records back (see :func:`held`)."""

    def __init__(self) -> None:
        super().__init__()
        self._held: list[logging.LogRecord] | None = None
        self._hold_lock = threading.Lock()

    def hold(self) -> None:
        with self._hold_lock:
            self._held = []

    def release_held(self) -> None:
        with self._hold_lock:
            records, self._held = self._held or [], None
        for record in records:
            self.write(record)

    def emit(self, record: logging.LogRecord) -> None:
        with self._hold_lock:
            if self._held is not None:
                self._held.append(record)
                return
        self.write(record)

    def write(self, record: logging.LogRecord) -> None:
        raise NotImplementedError


class _StderrHandler(_Holding):
    """Plain or JSON lines to whatever ``sys.stderr`` is when the record is written (a test
    runner swaps it)."""

    def write(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stderr
            stream.write(line + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


class _RichHandler(_Holding):
    """rich's handler, behind the holding switch."""

    def __init__(self, verbose: bool, console: Any) -> None:
        super().__init__()
        from rich.console import Console
        from rich.logging import RichHandler

        self.rich = RichHandler(console=console or Console(stderr=True), show_path=False,
                                log_time_format="%H:%M:%S", omit_repeated_times=False,
                                markup=False, rich_tracebacks=False)
        self.rich.setFormatter(logging.Formatter(
            "%(short_name)s: %(message)s" if verbose else "%(message)s"))

    def write(self, record: logging.LogRecord) -> None:
        record.short_name = short_name(record.name)
        self.rich.handle(record)


def _handler(chosen: str, verbose: bool, console: Any) -> _Holding:
    if chosen == "rich":
        return _RichHandler(verbose, console)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    return handler


def short_name(name: str) -> str:
    """``herald.collect`` → ``collect``; other loggers keep their names."""
    return name.removeprefix("herald.")


class TextFormatter(logging.Formatter):
    """``2026-07-14 10:02:03Z WARNING collect: message`` (and a traceback below, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        line = f"{when} {record.levelname} {short_name(record.name)}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) \
                and len(record.args) == 5:
            client, method, path, http_version, status = record.args
            out.update(client=client, method=method, path=path, http=http_version,
                       status=status)
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=_jsonable)


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _redact_tokens(record: logging.LogRecord) -> bool:
    """An access line's path with the token of a signed link replaced by ``***``."""
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) \
            and len(record.args) == 5 and isinstance(record.args[2], str):
        path = record.args[2]
        for prefix in TOKEN_PATHS:
            if path.startswith(prefix) and len(path) > len(prefix):
                rest = path[len(prefix):]
                cut = min((i for i in (rest.find("/"), rest.find("?")) if i != -1),
                          default=len(rest))
                path = prefix + "***" + rest[cut:]
                record.args = (*record.args[:2], path, *record.args[3:])
                break
    return True
