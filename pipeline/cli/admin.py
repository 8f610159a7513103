"""Data-protection commands: db grant / pseudonymise / check, erase, retention, audit."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from pipeline.cli.options import identity_options, open_warehouse, warehouse_option
from pipeline.governance.audit import ACTIONS
from pipeline.settings import markdown_table

__all__ = ["COMMANDS"]


@click.group()
def db() -> None:
    """Warehouse administration: schema upgrades, roles and grants, pseudonyms, consistency.

    Example:

        familyhub db upgrade && familyhub db grant && familyhub db check
    """


@db.command()
@warehouse_option
@click.option("--to", "target", default="head", show_default=True, metavar="REV",
              help="Stop at this revision (see `familyhub db history`).")
def upgrade(warehouse_url: str | None, target: str) -> None:
    """Bring the warehouse schema to this release's revision, in one transaction.

    Run once per deployment and after each FamilyHub upgrade, as the login that owns the
    schema (then `familyhub db grant` for tables an upgrade added). Also re-creates the
    reporting views and gives raw tables the columns their declarations gained. A warehouse
    made by the first release (no version table) upgrades in place, keeping every row.

    Example:

        familyhub db upgrade --warehouse postgresql+psycopg://familyhub@db/familyhub
    """
    from pipeline.warehouse.schema import upgrade as run_upgrade

    wh = open_warehouse(warehouse_url, require_current=False)
    try:
        before, after = run_upgrade(wh, target)
    except Exception as exc:  # a revision that fails rolls back whole: say which, not a traceback
        raise click.ClickException(f"upgrade of {wh.url} failed, nothing changed: {exc}") from exc
    click.echo(f"warehouse {wh.url}: {before or 'unversioned'} -> {after}" if before != after
               else f"warehouse {wh.url}: already at {after}")


@db.command()
@warehouse_option
def current(warehouse_url: str | None) -> None:
    """Print the warehouse's schema revision and this release's (exit 1 when behind).

    Example:

        familyhub db current
    """
    from pipeline.warehouse import schema

    rev, needed = schema.current(open_warehouse(warehouse_url, require_current=False)), schema.head()
    click.echo(f"{rev or 'unversioned'}{' (head)' if rev == needed else f' (this release needs {needed})'}")
    if rev != needed:
        raise SystemExit(1)


@db.command()
def history() -> None:
    """List the schema revisions of this release, oldest first.

    Example:

        familyhub db history
    """
    from pipeline.warehouse.schema import history as revisions

    for r in revisions():
        click.echo(f"{r.down_revision or 'base'} -> {r.revision}  {r.doc.splitlines()[0] if r.doc else ''}")


@db.command()
@warehouse_option
@click.option("--user", "login", metavar="LOGIN", help="Give this login (created if missing) one role.")
@click.option("--role", type=click.Choice(["owner", "loader", "analyst", "keyworker", "coordinator", "auditor",
                                         "admin"]), help="The role for --user.")
@click.option("--key-worker", metavar="NAME", help="For --role keyworker: the name in cohort.attachments.")
@click.option("--revoke", "revoke", metavar="LOGIN", help="Take every FamilyHub role away from this login.")
@identity_options(reason_required=False)
def grant(warehouse_url: str | None, login: str | None, role: str | None, key_worker: str | None,
          revoke: str | None, who: str, reason: str | None) -> None:
    """Create the PostgreSQL roles and grant them; or give a login one of them.

    Roles: familyhub_owner (owns the schema, runs `db upgrade`), familyhub_loader (writes
    raw and derived data: the pipeline), familyhub_analyst (only the pseudonymised reporting
    views), familyhub_keyworker (identifiable views of the families attached to them, by
    row-level security), familyhub_auditor (reads the audit log), familyhub_admin
    (everything, audit, erasure). Run as a superuser after `familyhub db upgrade`. Not for
    DuckDB, a single-user file. Set passwords with psql's \\password, never here.

    Example:

        familyhub db grant && familyhub db grant --user jsmith --role keyworker --key-worker "J Smith"
    """
    from pipeline.governance import access, audit

    wh = open_warehouse(warehouse_url)
    try:
        if revoke:
            access.remove_user(wh, revoke)
            detail = f"revoked every FamilyHub role from {revoke}"
        elif login:
            if not role:
                raise click.BadParameter("give --role with --user", param_hint="--role")
            created = access.add_user(wh, login, role, key_worker)
            detail = f"{'created login' if created else 'login'} {login}: {access.role_name(role)}" + (
                f" as key worker '{key_worker}'" if key_worker else "")
        else:
            granted = access.grant_roles(wh)
            detail = "granted " + ", ".join(sorted(granted))
    except (access.PostgresOnly, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    audit.record(wh, "grant", who=who, reason=reason, detail=detail)
    click.echo(detail)
    if not (login or revoke):
        _pseudonymise(wh, quiet_without_key=True)


def _pseudonymise(wh, quiet_without_key: bool = False) -> None:
    from pipeline.governance.access import refresh_pseudonyms

    try:
        counts = refresh_pseudonyms(wh)
    except ValueError as exc:
        if quiet_without_key:
            click.secho(f"pseudonyms not refreshed: {exc}", fg="yellow", err=True)
            return
        raise click.ClickException(str(exc)) from exc
    click.echo(f"pseudonyms: {counts['added']} added, {counts['removed']} removed")


@db.command()
@warehouse_option
def pseudonymise(warehouse_url: str | None) -> None:
    """Give new persons and families their opaque refs for the analyst views (after each link).

    Refs are HMAC-SHA256 of the ids under FAMILYHUB_PSEUDONYM_KEY, a secret kept outside
    the warehouse; a new key re-makes every ref.

    Example:

        FAMILYHUB_PSEUDONYM_KEY=... familyhub db pseudonymise
    """
    _pseudonymise(open_warehouse(warehouse_url))


@db.command()
@warehouse_option
def check(warehouse_url: str | None) -> None:
    """Check the warehouse is consistent: no partial file, counts that reconcile, no orphans.

    Example:

        familyhub db check
    """
    from pipeline.warehouse.integrity import problems

    found = problems(open_warehouse(warehouse_url))
    for name, n in found.items():
        click.secho(f"{name}: {n}", fg="red")
    if found:
        raise click.ClickException(f"{len(found)} consistency check(s) failed")
    click.echo("consistent")


@click.command()
@warehouse_option
@click.option("--person", "person_id", required=True, metavar="PERSON_ID", help="The person to erase.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@identity_options(reason_required=True)
def erase(warehouse_url: str | None, person_id: str, yes: bool, who: str, reason: str) -> None:
    """Erase a person: their raw rows and everything derived, with a tombstone against re-sends.

    Removes every delivered version of their records (held rows too), mentions, events,
    links, review decisions, cohort and claim evidence, alerts, their pseudonym, the person and
    families left empty, in one transaction; records a tombstone per record so re-sent files never bring them back;
    writes the erasure to the audit log. Re-run `familyhub cohort` afterwards.

    Example:

        familyhub erase --person P3fa9c0e12b4 --reason "SAR-2026-031 erasure request" --yes
    """
    from pipeline.governance.erasure import ErasureError, erase_person

    if not yes:
        click.confirm(f"Erase person {person_id} and everything derived from their records?", abort=True)
    try:
        summary = erase_person(open_warehouse(warehouse_url), person_id, who=who, reason=reason)
    except ErasureError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(summary, indent=2))


@click.command()
@warehouse_option
@click.option("--days", type=click.IntRange(1), envvar="FAMILYHUB_RETENTION_DAYS",
              help="Retention period in days [default: 2555, seven years]. Env: FAMILYHUB_RETENTION_DAYS.")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), help="Count the period back from this date [today].")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@identity_options(reason_required=False)
def retention(warehouse_url: str | None, days: int | None, as_of: datetime | None, dry_run: bool, who: str,
              reason: str | None) -> None:
    """Remove records whose events are older than the retention period, and what derives from them.

    Open episodes, claims and tenancies are kept while open; held-back rows go with their
    file's extract date. Audited.

    Example:

        familyhub retention --days 2555 --dry-run
    """
    from pipeline.governance.erasure import ErasureError, apply_retention

    try:
        summary = apply_retention(open_warehouse(warehouse_url), who=who, days=days,
                                  as_of=as_of.date() if as_of else None, reason=reason, dry_run=dry_run)
    except ErasureError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(summary, indent=2))


@click.command(name="audit")
@warehouse_option
@click.option("--family", "family_id", metavar="FAMILY_ID")
@click.option("--person", "person_id", metavar="PERSON_ID")
@click.option("--actor", "actor_name", metavar="NAME")
@click.option("--action", type=click.Choice(ACTIONS))
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--limit", type=click.IntRange(1), default=200, show_default=True)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the rows here (an export: needs --reason, and is audited itself).")
@click.option("--json", "as_json", is_flag=True)
@identity_options(reason_required="csv_path")
def audit_log(warehouse_url: str | None, family_id: str | None, person_id: str | None, actor_name: str | None,
              action: str | None, since: datetime | None, limit: int, csv_path: Path | None, as_json: bool,
              who: str, reason: str | None) -> None:
    """Who read or changed identifiable data, when, which family or person, and why (newest first).

    Example:

        familyhub audit --family F3a9c0e12b4 --since 2026-01-01
    """
    from pipeline.governance.audit import read_log
    from pipeline.governance.exports import export_identifiable

    wh = open_warehouse(warehouse_url)
    rows = read_log(wh, family_id, person_id, actor_name, action, since, limit)
    if csv_path:
        export_identifiable(wh, rows, csv_path, who=who, reason=reason, what="audit log")
        click.echo(f"wrote {len(rows)} rows to {csv_path}")
    elif as_json:
        click.echo(json.dumps(rows.to_dict("records"), indent=2, default=str))
    else:
        for r in rows.itertuples():
            click.echo(f"{r.logged_at:%Y-%m-%d %H:%M:%S}  {r.actor:<14} {r.db_user or '-':<16} {r.action:<12} "
                       f"{r.family_id or '-':<13} {r.person_id or '-':<13} {r.reason or ''}")


@click.command(name="settings")
def show_settings() -> None:
    """Every FAMILYHUB_* environment variable, its default and what it sets (a Markdown table,
    the one in the README); the current environment is validated first.

    Example:

        familyhub settings
    """
    click.echo(markdown_table(), nl=False)


COMMANDS = [db, erase, retention, audit_log, show_settings]
