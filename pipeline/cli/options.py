"""Options shared by several commands, spelled the same way everywhere."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from pipeline.warehouse import Warehouse

__all__ = ["as_of_option", "landing_options", "open_warehouse", "programme_option", "warehouse_option"]

INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL: the role may not do this

warehouse_option = click.option(
    "--warehouse", "warehouse_url", envvar="FAMILYHUB_WAREHOUSE", metavar="URL",
    help="Warehouse URL: duckdb:///file.duckdb (default: familyhub.duckdb here) or "
         "postgresql+psycopg://user@host/db. Env: FAMILYHUB_WAREHOUSE.")


as_of_option = click.option(
    "--as-of", type=click.DateTime(["%Y-%m-%d"]), default=lambda: date.today().isoformat(),
    show_default="today", help="Evaluation date (YYYY-MM-DD): windows are the 365 days up to it.")

programme_option = click.option(
    "--programme", "programmes", multiple=True, default=("tf2015",), show_default=True,
    help="Programme rules to evaluate (repeatable; the first is the active one). "
         "Shipped: tf2015, tf2012; or a path to a programme YAML.")


def landing_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--landing and --quarantine (default: a 'quarantine' folder beside the landing folder)."""

    @click.option("--landing", type=click.Path(file_okay=False, path_type=Path), envvar="FAMILYHUB_LANDING",
                  default=Path("landing"), show_default=True, help="Landing root: one folder per agency.")
    @click.option("--quarantine", type=click.Path(file_okay=False, path_type=Path),
                  envvar="FAMILYHUB_QUARANTINE", help="Where refused files and reports go [default: LANDING/../quarantine].")
    @functools.wraps(func)
    def wrapper(*args: Any, landing: Path, quarantine: Path | None, **kwargs: Any) -> Any:
        return func(*args, landing=landing, quarantine=quarantine or landing.parent / "quarantine", **kwargs)

    return wrapper


def open_warehouse(url: str | None) -> Warehouse:
    """Connect and make sure the schema is current (idempotent DDL).

    A least-privilege PostgreSQL role (loader, key worker: ``familyhub db grant``) may not
    change the schema; it uses the schema as its owner left it.
    """
    try:
        wh = Warehouse.connect(url)
        try:
            wh.migrate()
        except sa.exc.ProgrammingError as exc:
            if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
                raise
    except Exception as exc:  # a bad URL or an unreachable server: say which, without the password
        from pipeline.warehouse import redact, resolve_url

        raise click.ClickException(f"cannot open warehouse {redact(resolve_url(url))}: {exc}") from exc
    return wh
