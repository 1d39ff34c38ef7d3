"""``herald users``: staff accounts for the web app."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer
from rich.table import Table

from bot.cli._base import (
    ConfigOpt,
    JsonOpt,
    errors,
    fail,
    out,
    users_app,
    with_herald,
)
from bot.clock import SystemClock


def _read_password(password_env: str | None) -> str:
    import getpass

    if password_env:
        value = os.environ.get(password_env)
        if not value:
            raise fail(f"--password-env: the environment variable {password_env} is not set", 2)
        return value
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (12 characters or more): ")
    if getpass.getpass("Again: ") != first:
        raise fail("the two passwords differ", 2)
    return first


EmailArg = Annotated[str, typer.Argument(help="Their email address (the sign-in name).")]
PasswordEnvOpt = Annotated[str | None, typer.Option(
    "--password-env", help="Read the password from this environment variable (else it is "
                           "asked for, or read from standard input).")]


@users_app.command("add")
def users_add(email: EmailArg, role: Annotated[str, typer.Option(
                  "--role", help="editor, approver or admin.")] = "editor",
              password_env: PasswordEnvOpt = None, config: ConfigOpt = None) -> None:
    """Add a staff account for `herald serve`."""
    from bot.passwords import hash_password
    from bot.store import ROLES

    if role not in ROLES:
        raise fail(f"--role: must be one of {', '.join(ROLES)}; got {role!r}", 2)
    with errors():
        hashed = hash_password(_read_password(password_env))
    user = with_herald(config, lambda h: h.store.add_user(email, role, hashed,
                                                          SystemClock().now()))
    out.print(f"added {user.email} ({user.role})")


@users_app.command("list")
def users_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every staff account and its role."""
    users = with_herald(config, lambda h: h.store.list_users())
    rows = [{"email": u.email, "role": u.role, "disabled": u.disabled,
             "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None}
            for u in users]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Users ({len(users)})")
    for col in ("email", "role", "state", "last sign-in"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["email"], r["role"], "disabled" if r["disabled"] else "active",
                      r["last_login_at"] or "never")
    out.print(table)


@users_app.command("set")
def users_set(email: EmailArg, role: Annotated[str | None, typer.Option(
                  "--role", help="editor, approver or admin.")] = None,
              password: Annotated[bool, typer.Option(
                  "--password", help="Set a new password (asked for).")] = False,
              password_env: PasswordEnvOpt = None,
              disable: Annotated[bool | None, typer.Option(
                  "--disable/--enable", help="Disable or enable the account.")] = None,
              config: ConfigOpt = None) -> None:
    """Change a staff account's role, password or state (this ends its sessions)."""
    from bot.passwords import hash_password

    hashed = None
    if password or password_env:
        with errors():
            hashed = hash_password(_read_password(password_env))
    user = with_herald(config, lambda h: h.store.set_user(
        email, role=role, password_hash=hashed, disabled=disable))
    out.print(f"{user.email}: {user.role}, {'disabled' if user.disabled else 'active'}")


@users_app.command("remove")
def users_remove(email: EmailArg, config: ConfigOpt = None) -> None:
    """Remove a staff account (their announcements stay)."""
    with_herald(config, lambda h: h.store.remove_user(email))
    out.print(f"removed {email}")


@users_app.command("invite")
def users_invite(email: EmailArg, role: Annotated[str, typer.Option(
                     "--role", help="editor, approver or admin.")] = "editor",
                 no_mail: Annotated[bool, typer.Option(
                     "--no-mail", help="Print the link only; do not email it.")] = False,
                 config: ConfigOpt = None) -> None:
    """Invite someone by link: prints a single-use link (valid for [web] invite_for) and
    emails it through the worker's outbox. Older open invitations for the address stop
    working."""
    from bot.store import ROLES
    from bot.usecases.accounts import invite

    if role not in ROLES:
        raise fail(f"--role: must be one of {', '.join(ROLES)}; got {role!r}", 2)
    made = with_herald(config, lambda h: invite(h, email, role, mail=not no_mail))
    out.print(f"invited {made.email} ({role})"
              f"{'; the link is emailed too' if made.mailed else ''}:", markup=False)
    print(made.url)


@users_app.command("reset-link")
def users_reset_link(email: EmailArg, config: ConfigOpt = None) -> None:
    """Print a single-use password-reset link (valid for [web] reset_for) for an account;
    using it ends the account's sessions. Nothing is emailed."""
    from bot.app import Herald
    from bot.errors import StoreError
    from bot.usecases.accounts import MadeLink, reset_link

    def make(h: Herald) -> MadeLink:
        user = h.store.get_user(email)
        if user.disabled:
            raise StoreError(f"{user.email} is disabled: enable it first "
                             "(herald users set --enable)")
        return reset_link(h, user, mail=False)

    made = with_herald(config, make)
    out.print(f"reset link for {made.email}:", markup=False)
    print(made.url)
