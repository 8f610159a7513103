"""Commands of the web front end: serve, and user accounts (add, disable, enable, reset-password)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from pipeline.cli.options import open_warehouse, warehouse_option

__all__ = ["COMMANDS"]

_ROLES = click.Choice(["keyworker", "coordinator", "manager", "datateam"])


def _password(from_stdin: bool) -> str:
    """A new password: one line on stdin (for scripts), else asked twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _account(change: Callable[..., None], *args: Any) -> None:
    """Make an account change; a refusal (ValueError) becomes the command's error message."""
    try:
        change(*args)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


_stdin_option = click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")


@click.command()
@warehouse_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
@click.option("--port", type=int, default=8000, show_default=True)
def serve(warehouse_url: str | None, host: str, port: int) -> None:
    """Serve the web front end: key workers', coordinators', managers' and the data team's pages.

    Put it behind an HTTPS reverse proxy (cookies are Secure); settings: FAMILYHUB_WEB_*.

    Example:

        familyhub serve --warehouse duckdb:///demo/familyhub.duckdb
    """
    import uvicorn

    from pipeline.web.app import create_app

    click.echo(f"FamilyHub on http://{host}:{port}/ (Ctrl+C to stop)")
    uvicorn.run(create_app(open_warehouse(warehouse_url)), host=host, port=port, log_level="info",
                proxy_headers=True, forwarded_allow_ips="127.0.0.1")


@click.group()
def user() -> None:
    """Web accounts: one role each (keyworker, coordinator, manager, datateam).

    On PostgreSQL each account is also a database login in the matching FamilyHub role
    (run `familyhub db grant` first), so row-level security applies to its pages.

    Example:

        familyhub user add sam_patel --role keyworker --key-worker "Sam Patel"
    """


@user.command("add")
@warehouse_option
@click.argument("name")
@click.option("--role", type=_ROLES, required=True)
@click.option("--key-worker", help="For --role keyworker: the name in attachments [default: NAME].")
@click.option("--sso-only", is_flag=True, help="No password: signs in only through single sign-on.")
@click.option("--app-login", metavar="LOGIN", help="PostgreSQL: the login `familyhub serve` connects as, "
                                                     "allowed to act as this user [default: the one running this].")
@_stdin_option
def add(warehouse_url: str | None, name: str, role: str, key_worker: str | None, sso_only: bool,
        app_login: str | None, password_stdin: bool) -> None:
    """Create an account (its password is hashed with argon2id).

    On PostgreSQL run it as a login that may create roles (after `familyhub db grant`).
    """
    from pipeline.web.accounts import add_user

    password = None if sso_only else _password(password_stdin)
    _account(add_user, open_warehouse(warehouse_url), name, role, password, key_worker, app_login)
    click.echo(f"added {name} ({role})")


@user.command("disable")
@warehouse_option
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the account again instead.")
def disable(warehouse_url: str | None, name: str, enable: bool) -> None:
    """Disable an account: it cannot sign in and its sessions end at once."""
    from pipeline.web.accounts import set_disabled

    _account(set_disabled, open_warehouse(warehouse_url), name, not enable)
    click.echo(f"{name}: {'enabled' if enable else 'disabled'}")


@user.command("reset-password")
@warehouse_option
@click.argument("name")
@_stdin_option
def reset(warehouse_url: str | None, name: str, password_stdin: bool) -> None:
    """Set a new password; ends the account's sessions and lifts a lockout."""
    from pipeline.web.accounts import reset_password

    _account(reset_password, open_warehouse(warehouse_url), name, _password(password_stdin))
    click.echo(f"{name}: password reset")


COMMANDS = [serve, user]
