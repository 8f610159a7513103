"""``familyhub need``: record, correct, close and list needs found at the family assessment."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import click

from pipeline.cli.options import identity_options, open_warehouse, warehouse_option

if TYPE_CHECKING:
    from pipeline.programme.needs import Need

__all__ = ["COMMANDS"]

_DAY = click.DateTime(["%Y-%m-%d"])
_BY = click.option("--by", metavar="NAME",
                   help="Who records it, for the need and the audit log [default: the OS user]. Env: FAMILYHUB_USER.")


def _done(verb: str, call: Callable[[], Need]) -> None:
    """Run one change to a need; show the need as it now stands, or the error."""
    try:
        need = call()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    state = f"closed {need.outcome} on {need.closed_on}" if need.closed_on else "open"
    click.echo(f"{verb} {need.need_id}  {need.family_id}  {need.headline}  identified {need.identified_on}  {state}")


@click.group()
def need() -> None:
    """Needs found at the whole-family assessment rather than in an extract.

    An open need counts under its headline (a criterion code, e.g. early_years) in every
    programme that has that criterion, and shows in the family's evidence with agency
    'recorded'. Recording, correcting and closing are kept as history and audited.
    """


@need.command("add")
@warehouse_option
@click.argument("family_id")
@click.option("--headline", required=True, help="Criterion code of the need, e.g. early_years.")
@click.option("--date", "on", type=_DAY, required=True, help="Date the need was identified (YYYY-MM-DD).")
@click.option("--evidence", required=True, help="Short text: what the assessment found.")
@_BY
def add(warehouse_url: str | None, family_id: str, headline: str, on: datetime, evidence: str,
        by: str | None) -> None:
    """Record a need of a family.

    Example:

        familyhub need add F3a9c0e12b4 --headline early_years --date 2026-05-01 --evidence "speech delay, 2y check" --by "Sam Patel"
    """
    from pipeline.programme.needs import add_need

    _done("recorded", lambda: add_need(open_warehouse(warehouse_url), family_id, headline, on.date(), evidence, by))


@need.command("change")
@warehouse_option
@click.argument("need_id")
@click.option("--headline", help="Corrected criterion code.")
@click.option("--date", "on", type=_DAY, help="Corrected date identified (YYYY-MM-DD).")
@click.option("--evidence", help="Corrected evidence text.")
@_BY
def change(warehouse_url: str | None, need_id: str, headline: str | None, on: datetime | None,
           evidence: str | None, by: str | None) -> None:
    """Correct an open need (the earlier state is kept).

    Example:

        familyhub need change N1f2e3d4c5b --date 2026-04-20
    """
    from pipeline.programme.needs import change_need

    _done("changed", lambda: change_need(open_warehouse(warehouse_url), need_id, headline=headline,
                                         on=on.date() if on else None, evidence=evidence, by=by))


@need.command("close")
@warehouse_option
@click.argument("need_id")
@click.option("--outcome", type=click.Choice(["achieved", "not_achieved"]), required=True)
@click.option("--date", "on", type=_DAY, required=True, help="Closing date (YYYY-MM-DD); the need counts up to it.")
@_BY
def close(warehouse_url: str | None, need_id: str, outcome: str, on: datetime, by: str | None) -> None:
    """Close a need with its outcome.

    Example:

        familyhub need close N1f2e3d4c5b --outcome achieved --date 2027-01-31
    """
    from pipeline.programme.needs import close_need

    _done("closed", lambda: close_need(open_warehouse(warehouse_url), need_id, outcome, on.date(), by))


@need.command("list")
@warehouse_option
@click.argument("family_id", required=False)
@click.option("--open", "open_only", is_flag=True, help="Only needs not yet closed.")
@click.option("--json", "as_json", is_flag=True)
@identity_options(reason_required=True)
def list_(warehouse_url: str | None, family_id: str | None, open_only: bool, as_json: bool, who: str,
          reason: str) -> None:
    """List recorded needs (of one family, or all), as they now stand.

    Identifiable: say why with --reason; one audit row per family shown is written first.

    Example:

        familyhub need list F3a9c0e12b4 --reason "case 1234 review"
    """
    from pipeline.governance.audit import record
    from pipeline.programme.needs import list_needs

    wh = open_warehouse(warehouse_url)
    rows = list_needs(wh, family_id, open_only)
    if len(rows):
        record(wh, "view_family", who=who, reason=reason, subjects=rows[["family_id"]],
               detail="recorded needs")
    if as_json:
        click.echo(json.dumps(rows.to_dict("records"), indent=2, default=str))
        return
    if rows.empty:
        click.echo("no recorded needs")
    for r in rows.itertuples():
        state = f"{r.outcome} {str(r.closed_on)[:10]}" if r.outcome else "open"
        click.echo(f"{r.need_id}  {r.family_id:<13} {r.headline:<22} {str(r.identified_on)[:10]}  "
                   f"{state:<22} {r.recorded_by}: {r.evidence}")


COMMANDS = [need]
