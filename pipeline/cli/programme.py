"""Commands of the programme team: attach, close, cases, alerts, claims, report."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import click
import pandas as pd

from pipeline.cli.options import identity_options, open_warehouse, warehouse_option

__all__ = ["COMMANDS"]

_DAY = click.DateTime(["%Y-%m-%d"])


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


def _today() -> str:
    return date.today().isoformat()


@click.command()
@warehouse_option
@click.argument("family_id")
@click.option("--key-worker", required=True, help="Name of the key worker who starts working with the family.")
@click.option("--date", "on", type=_DAY, default=_today, show_default="today",
              help="Attachment date (YYYY-MM-DD): payment by results counts from the first one.")
@click.option("--email", help="Also record where this key worker's alerts are e-mailed.")
@click.option("--reassign", is_flag=True, help="Hand an attached family to another key worker "
                                                 "(the attachment date stays).")
def attach(warehouse_url: str | None, family_id: str, key_worker: str, on: datetime, email: str | None,
           reassign: bool) -> None:
    """Attach a family to a key worker (history is kept; the family view shows it).

    Example:

        familyhub attach F3a9c0e12b4 --key-worker "Sam Patel" --date 2026-05-01 --email sam.patel@council.example
    """
    from pipeline.programme.keyworkers import attach as run
    from pipeline.programme.keyworkers import set_email

    wh = open_warehouse(warehouse_url)
    try:
        if email:
            set_email(wh, key_worker, email)
        state = run(wh, family_id, key_worker, _day(on), reassign=reassign)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{family_id}: attached to {state.key_worker} since {state.attached_on}")


@click.command()
@warehouse_option
@click.argument("family_id")
@click.option("--date", "on", type=_DAY, default=_today, show_default="today", help="Closing date (YYYY-MM-DD).")
def close(warehouse_url: str | None, family_id: str, on: datetime) -> None:
    """Close a family's attachment: its key worker stops working with it (history is kept).

    Example:

        familyhub close F3a9c0e12b4 --date 2027-02-28
    """
    from pipeline.programme.keyworkers import close as run

    try:
        state = run(open_warehouse(warehouse_url), family_id, _day(on))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{family_id}: closed on {state.closed_on} (attached to {state.key_worker} since {state.attached_on})")


@click.command()
@warehouse_option
@click.option("--decide", "review_id", metavar="REVIEW_ID", help="Decide this review item (with --by).")
@click.option("--keep", multiple=True, metavar="FAMILY_ID",
              help="With --decide: a family the case keeps (repeat; default: every family it covers).")
@click.option("--by", help="With --decide: the coordinator's name.")
def cases(warehouse_url: str | None, review_id: str | None, keep: tuple[str, ...], by: str | None) -> None:
    """List the coordinator's open case review items (attached families merged or split), or decide one.

    Until an item is decided every key worker of the case sees every family it covers.

    Example:

        familyhub cases
        familyhub cases --decide R20261201T020000000000-C1a2b3c4d5e6f --keep Fa1b2c3d4e5 --by "J Smith"
    """
    from pipeline.programme.cases import decide, open_reviews

    wh = open_warehouse(warehouse_url)
    if review_id is None:
        items = open_reviews(wh)
        for r in items.itertuples():
            click.echo(f"{r.review_id}  {r.kind:<6}  case {r.case_id}: {r.detail}")
        click.echo(f"{len(items)} open review item(s)")
        return
    if not by:
        raise click.UsageError("--decide needs --by NAME")
    try:
        kept = decide(wh, review_id, by, list(keep) or None)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{review_id}: decided by {by}; the case keeps {', '.join(kept)}")


@click.command()
@warehouse_option
@click.option("--key-worker", help="Only this key worker's alerts.")
@click.option("--since", type=_DAY, help="Only alerts raised on or after this date.")
@click.option("--raise", "raise_new", is_flag=True,
              help="First run an alert pass over new events (as `familyhub run` does after linking).")
@click.option("--send", is_flag=True, help="E-mail pending alerts now (FAMILYHUB_SMTP_* settings).")
@click.option("--json", "as_json", is_flag=True)
def alerts(warehouse_url: str | None, key_worker: str | None, since: datetime | None, raise_new: bool,
           send: bool, as_json: bool) -> None:
    """List alerts raised for key workers: new events of the families they work with.

    Example:

        familyhub alerts --key-worker "Sam Patel" --since 2026-11-01
    """
    from pipeline.programme.alerts import deliver_alerts, list_alerts, raise_alerts

    wh = open_warehouse(warehouse_url)
    try:
        if raise_new:
            summary = raise_alerts(wh, deliver=False)
            click.echo(f"alert pass: {summary['new_events']} new events, {summary['alerts']} alerts", err=as_json)
        if send:
            counts = deliver_alerts(wh)
            click.echo("e-mail: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()), err=as_json)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = list_alerts(wh, key_worker, _day(since))
    if as_json:
        click.echo(json.dumps(rows.to_dict("records"), indent=2, default=str))
        return
    if rows.empty:
        click.echo("no alerts")
        return
    for r in rows.itertuples():
        mailed = f"e-mailed {str(r.emailed_at)[:16]}" if pd.notna(r.emailed_at) else "not e-mailed"
        click.echo(f"{str(r.raised_at)[:16]}  {r.key_worker:<18} {r.family_id:<13} {r.person_id:<13} "
                   f"{str(r.event_date)[:10]}  {r.detail}  [{mailed}{', corrected since' if r.corrected else ''}]")


def _money(amount: float) -> str:
    return f"£{amount:,.0f}"


def _print_claims(result, programme: str, window: str, dry_run: bool) -> None:
    """One programme's claims of a window: totals, what was not claimed and why, the cap."""
    made = result.claims
    first = made["claim_date"].iloc[0] if len(made) else None
    click.secho(f"{programme} claims for window {window}" + (f" (claim date {str(first)[:10]})" if first else "")
                + (" — dry run, nothing recorded" if dry_run else ""), bold=True)
    for payment, label in (("attachment", "attachment fees"), ("results", "results")):
        rows = made[made["payment"] == payment]
        if payment == "attachment" and result.cap.empty:
            continue  # a programme without attachment fees (sf2022)
        routes = ", ".join(f"{k} {v}" for k, v in rows["result"].value_counts().items()) if payment == "results" else ""
        click.echo(f"  {label}: {len(rows)} ({_money(rows['amount'].sum())})" + (f": {routes}" if routes else ""))
    click.echo(f"  total: {_money(made['amount'].sum())}")
    if len(result.not_claimed):
        counts = result.not_claimed.groupby(["payment", "reason"]).size()
        click.echo("not claimed:")
        for (payment, reason), n in counts.items():
            click.echo(f"  {payment:<10} {n:>4}  {reason}")
    if len(result.cap):
        click.echo("attachment-fee claims remaining under the cap:")
    for y in result.cap.itertuples():
        click.echo(f"  year {y.programme_year} (from {y.starts}): {y.families} families committed, cap {y.cap}, "
                   f"claimed {y.claimed}, remaining {y.remaining}")
    for c in made.itertuples():
        click.echo(f"  {c.family_id:<13} {c.payment:<10} {_money(c.amount):>7}  {c.evidence}")


@click.command()
@warehouse_option
@click.option("--programme", "programmes", multiple=True, default=["tf2015"], show_default=True,
              help="Programme whose payment rules apply; repeat for several (one return holds them all).")
@click.option("--window", required=True, help="Claim window: YYYY-H1 (Jan-Jun) or YYYY-H2 (Jul-Dec).")
@click.option("--claim-date", type=_DAY, help="Date the claim is judged at (within the window) [default: its last day].")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the claims as the CSV for the government return (audited: needs --reason).")
@click.option("--dry-run", is_flag=True, help="Show what would be claimed without recording it.")
@identity_options(reason_required="csv_path")
def claims(warehouse_url: str | None, programmes: tuple[str, ...], window: str, claim_date: datetime | None,
           csv_path: Path | None, dry_run: bool, who: str, reason: str | None) -> None:
    """Work out and record a window's payment-by-results claims, with evidence per claim.

    A family is never claimed twice for the same payment and programme; re-running a window
    replaces that window's claims. The return (--csv) is an export of identifiable data:
    say why with --reason; it is audited, one row per family, before it is written.

    Example:

        familyhub claims --programme tf2015 --programme sf2022 --window 2026-H2 --csv claims-2026-H2.csv --reason "2026-H2 return"
    """
    from pipeline.programme.claims import make_claims, write_return

    wh = open_warehouse(warehouse_url)
    made = []
    for programme in programmes:
        try:
            result = make_claims(wh, programme, window, _day(claim_date), record=not dry_run)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        _print_claims(result, programme, window, dry_run)
        made.append(result.claims)
    if csv_path:
        write_return(wh, pd.concat(made, ignore_index=True), csv_path, who=who, reason=reason)
        click.echo(f"wrote {csv_path}")


@click.command()
@warehouse_option
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--programme", help="Programme to report on [default: the active one].")
@click.option("--as-of", type=_DAY, help="Date of the latest 12 months for savings [default: the active as-of date].")
def report(warehouse_url: str | None, out: Path, programme: str | None, as_of: datetime | None) -> None:
    """Write one self-contained HTML report (charts inline, viewable offline).

    Cohort by number and kind of criteria, cost distribution, linkage match weights and the
    review queue, claims, and savings of attached families.

    Example:

        familyhub report report.html
    """
    from pipeline.programme.report import write_report

    try:
        path = write_report(open_warehouse(warehouse_url), out, programme, _day(as_of))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {path}")


COMMANDS = [attach, close, cases, alerts, claims, report]
