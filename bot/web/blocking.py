"""Keeping blocking work off the web app's event loop.

One slow call on the event loop stops every request of the process: sign-in, the
subscriber pages, ``/healthz``. So no ``async`` handler calls the database, argon2, SMTP
or the network. Handlers are plain functions, which FastAPI runs in its thread pool; the
form they need is read on the event loop first by the ``FormBody`` dependency. The one
handler that must wait for something slow it does not control (the feed check fetches a
stranger's server) runs it with ``run_bounded``: in a thread of its own gate (so a few
slow checks cannot take the whole pool) and with a deadline, after which the page answers
and the thread is left to finish (the fetch has its own timeouts).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, Request
from starlette.datastructures import FormData

from bot.errors import HeraldError

T = TypeVar("T")


async def read_form(request: Request) -> FormData:
    """The request's form, read on the event loop (the handler then runs in a thread)."""
    return await request.form()


#: A handler's parameter for its form: ``def handler(request: Request, form: FormBody)``.
FormBody = Annotated[FormData, Depends(read_form)]


class TooSlow(HeraldError):
    """The work did not finish within its deadline, or too many of its kind are running."""

    default_message = "that took too long"


class Gate:
    """At most ``size`` threads doing one kind of slow work, counted until each thread
    really ends (an abandoned thread keeps its place)."""

    def __init__(self, size: int) -> None:
        self._slots = threading.BoundedSemaphore(size)

    def run(self, fn: Callable[[], T], busy: str) -> T:
        if not self._slots.acquire(blocking=False):
            raise TooSlow(busy)
        try:
            return fn()
        finally:
            self._slots.release()


async def run_bounded(fn: Callable[[], T], *, gate: Gate, deadline: float, busy: str,
                      late: str) -> T:
    """``fn()`` in a worker thread; TooSlow(``busy``) when the gate is full, TooSlow(``late``)
    when ``deadline`` seconds pass first (the thread is abandoned, not stopped)."""
    try:
        with anyio.fail_after(deadline):
            return await anyio.to_thread.run_sync(gate.run, fn, busy,
                                                  abandon_on_cancel=True)
    except TimeoutError:
        raise TooSlow(late) from None
