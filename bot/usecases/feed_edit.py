"""Editing a feed and asking for a poll now: behind ``herald feeds edit``/``poll`` and the
web app's feed page.

``edit_feed`` changes a feed's address, display name and poll interval with the checks of
adding one (``bot.usecases.feeds``): a new address goes through the SSRF guard and one
fetch that must parse as a feed (a web page's feed links are followed the same way), and
is refused when another feed reads it already; a display name another feed already shows
is refused. Its name never changes. Feeds from the
config file are changed in the file.

``poll_now`` makes a feed due at once: the worker polls it on its next cycle. Neither face
fetches it itself (the web app never waits on a feed server for this).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import StoreError
from bot.usecases.feeds import (
    FeedCheck,
    NewFeed,
    _not_there,
    _same_address,
    address_of,
    check_feed,
    display_name_free,
    display_name_of,
    interval_of,
)

if TYPE_CHECKING:
    from bot.app import Herald
    from bot.store import SourceRow


def edit_feed(herald: Herald, name: str, *, url: str | None = None,
              display_name: str | None = None, every: str | None = None,
              allow_local: bool = False) -> tuple[SourceRow, FeedCheck | None]:
    """Change what is given (None: unchanged; an empty display name clears it); the
    check of a new address, when there was one. Blocking: the network."""
    row = herald.store.get_source(name)
    if row.origin == "config":
        raise StoreError(f"{name!r} comes from the config file; change it there")
    shown = display_name_of(display_name) if display_name is not None else None
    display_name_free(herald, shown, but=name)
    interval = interval_of(every) if every is not None and every.strip() else None
    check = None
    new_url = None
    if url is not None and url.strip():
        address = address_of(url, allow_local=allow_local)
        if address != row.url and not _same_address(herald, row.url, address):
            _not_there(herald, None, address, but=name)
            # (No display name here: ``shown`` was checked above, against the others.)
            check = check_feed(herald, NewFeed(name, address, interval or row.every,
                                               None, name_given=False))
            new_url = check.feed.url
            _not_there(herald, None, new_url, but=name)
    updated = herald.store.update_source(
        name, herald.clock.now(), url=new_url, every=interval,
        display_name=shown if shown is not None else (
            check.feed.display_name if check and not row.display_name else None),
        clear_display_name=display_name is not None and shown is None)
    return updated, check


def poll_now(herald: Herald, name: str) -> SourceRow:
    """Make the feed due now; the worker polls it on its next cycle."""
    return herald.store.poll_source_now(name, herald.clock.now())
