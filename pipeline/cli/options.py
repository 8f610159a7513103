"""Options shared by several commands, spelled the same way everywhere."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click

from pipeline.warehouse.engine import Warehouse

__all__ = ["archive_option", "as_of_option", "identity_options", "landing_options", "open_warehouse", "programme_option",
           "warehouse_option"]

warehouse_option = click.option(
    "--warehouse", "warehouse_url", envvar="FAMILYHUB_WAREHOUSE", metavar="URL",
    help="Warehouse URL: duckdb:///file.duckdb (default: familyhub.duckdb here) or "
         "postgresql+psycopg://user@host/db. Env: FAMILYHUB_WAREHOUSE.")


as_of_option = click.option(
    "--as-of", type=click.DateTime(["%Y-%m-%d"]), default=lambda: date.today().isoformat(),
    show_default="today", help="Evaluation date (YYYY-MM-DD): windows are the 365 days up to it.")

archive_option = click.option(
    "--archive/--no-archive", envvar="FAMILYHUB_ARCHIVE", default=False, show_default=True,
    help="Move each processed file (loaded, refused and quarantined, or already seen) to "
         "LANDING/<agency>/processed/YYYY/. Env: FAMILYHUB_ARCHIVE.")

programme_option = click.option(
    "--programme", "programmes", multiple=True, default=("tf2015",), show_default=True,
    help="Programme rules to evaluate (repeatable; the first is the active one). "
         "Shipped: tf2015, tf2012, sf2022; or a path to a programme YAML.")


def landing_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--landing, --quarantine (default: a 'quarantine' folder beside the landing folder) and
    --data-docs, which the gate reads from ``FAMILYHUB_DATA_DOCS`` as Airflow tasks do: the option
    sets that variable for this command (and its ingest workers)."""

    @click.option("--landing", type=click.Path(file_okay=False, path_type=Path), envvar="FAMILYHUB_LANDING",
                  default=Path("landing"), show_default=True, help="Landing root: one folder per agency.")
    @click.option("--quarantine", type=click.Path(file_okay=False, path_type=Path),
                  envvar="FAMILYHUB_QUARANTINE", help="Where refused files and reports go [default: LANDING/../quarantine].")
    @click.option("--data-docs", type=click.Path(file_okay=False, path_type=Path), envvar="FAMILYHUB_DATA_DOCS",
                  help="Where Great Expectations Data Docs of every validated file go "
                       "[default: QUARANTINE/../data_docs]. Env: FAMILYHUB_DATA_DOCS.")
    @functools.wraps(func)
    def wrapper(*args: Any, landing: Path, quarantine: Path | None, data_docs: Path | None, **kwargs: Any) -> Any:
        if data_docs:
            os.environ["FAMILYHUB_DATA_DOCS"] = str(data_docs)
        return func(*args, landing=landing, quarantine=quarantine or landing.parent / "quarantine", **kwargs)

    return wrapper


def identity_options(reason_required: bool | str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--as NAME`` (who, for the audit log) and ``--reason`` (why), spelled once for every command.

    ``reason_required``: True for a command that always shows identifiable data; the name of
    one of the command's parameters (e.g. ``"csv_path"``) when only that option exports it.
    """
    when = f" (required with --{reason_required.removesuffix('_path').replace('_', '-')})" \
        if isinstance(reason_required, str) else ""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @click.option("--as", "as_name", envvar="FAMILYHUB_USER", metavar="NAME",
                      help="Who is acting, for the audit log [default: the OS user]. Env: FAMILYHUB_USER.")
        @click.option("--reason", required=reason_required is True, metavar="TEXT",
                      help=f"Why (case reference or purpose){when}; recorded in the audit log.")
        @functools.wraps(func)
        def wrapper(*args: Any, as_name: str | None, reason: str | None, **kwargs: Any) -> Any:
            from pipeline.governance.audit import AuditError, actor, require_reason

            try:
                who = actor(as_name)
                if reason_required is True or (isinstance(reason_required, str) and kwargs.get(reason_required)):
                    reason = require_reason(reason)
            except AuditError as exc:
                raise click.UsageError(str(exc)) from exc
            return func(*args, who=who, reason=reason, **kwargs)

        return wrapper

    return decorate


def open_warehouse(url: str | None, require_current: bool = True) -> Warehouse:
    """Connect, and refuse a warehouse whose schema is behind this release with a message
    saying to run ``familyhub db upgrade`` (commands never change the schema themselves:
    the pipeline's role may not)."""
    from pipeline.warehouse.engine import redact, resolve_url
    from pipeline.warehouse.schema import SchemaBehind

    try:
        wh = Warehouse.connect(url)
        if require_current:
            wh.require_current()
    except SchemaBehind as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # a bad URL or an unreachable server: say which, without the password
        raise click.ClickException(f"cannot open warehouse {redact(resolve_url(url))}: {exc}") from exc
    return wh
