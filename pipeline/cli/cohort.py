"""Commands that identify: run, cohort, family, compare (linkage commands: :mod:`pipeline.cli.linkage`)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import click
import pandas as pd

from pipeline.cli.options import (
    archive_option,
    as_of_option,
    identity_options,
    landing_options,
    open_warehouse,
    programme_option,
    warehouse_option,
)

__all__ = ["COMMANDS"]


def _day(value: datetime) -> date:
    return value.date()


def print_summary(wh, programme: str, as_of: date) -> None:
    """Families, eligible by number of criteria, per criterion, the top 10 by priority with cost."""
    cohort = wh.read("select * from reporting.cohort where programme = :p and as_of = :d",
                     {"p": programme, "d": as_of})
    eligible = cohort[cohort["eligible"].astype(bool)]
    click.secho(f"\n{programme} at {as_of}: {len(cohort)} families, {len(eligible)} eligible", bold=True)
    by_n = eligible.groupby("n_criteria").size()
    click.echo("eligible families by number of criteria: " +
               ", ".join(f"{n}: {c}" for n, c in by_n.items()))
    per = eligible["criteria"].str.split(",").explode().value_counts().sort_index()
    click.echo("eligible families per criterion:")
    for code, n in per.items():
        click.echo(f"  {code:<20} {n}")
    others = cohort[cohort["basis"].notna() & ~cohort["eligible"].astype(bool)]
    if len(others):
        click.echo("also in the cohort by local inclusion: " +
                   ", ".join(f"{b}: {n}" for b, n in others.groupby("basis").size().items()))
    top = eligible.sort_values("priority_rank").head(10)
    click.echo("top 10 by priority:")
    click.echo(f"  {'rank':>4}  {'family':<13} {'criteria':<62} {'annual cost':>12}")
    for r in top.itertuples():
        click.echo(f"  {int(r.priority_rank):>4}  {r.family_id:<13} {r.criteria:<62} £{float(r.estimated_annual_cost):>11,.0f}")


@click.command()
@warehouse_option
@landing_options
@as_of_option
@programme_option
@archive_option
def run(warehouse_url: str | None, landing: Path, quarantine: Path, as_of: datetime,
        programmes: tuple[str, ...], archive: bool) -> None:
    """Do everything: ingest new files, link persons and families, evaluate the programmes.

    Idempotent: running it again with no new files changes nothing.

    Example:

        familyhub run --landing demo/landing --as-of 2026-11-01 --programme tf2015 --programme tf2012
    """
    from pipeline.runner import run_all

    if not landing.is_dir():
        raise click.ClickException(f"landing folder {landing} does not exist")
    wh = open_warehouse(warehouse_url)
    summary = run_all(wh, landing, quarantine, _day(as_of), list(programmes), progress=True, archived=archive)
    loaded = sum(f.status == "loaded" for f in summary.files)
    refused = [f for f in summary.files if f.status == "refused"]
    click.echo(f"files: {loaded} loaded, {len(refused)} refused, "
               f"{sum(f.status == 'duplicate' for f in summary.files)} already seen")
    for f in refused:
        click.secho(f"  refused {f.agency}/{f.file_name}: {f.reason}", fg="red")
    lk = summary.linkage
    click.echo(f"linkage ({lk['mode']}): {lk['n_mentions']} records → {lk['n_persons']} persons → "
               f"{lk['n_families']} families; {lk['n_review']} pairs for clerical review")
    for programme in programmes:
        print_summary(wh, Path(programme).stem, _day(as_of))


@click.command()
@warehouse_option
@as_of_option
@programme_option
def cohort(warehouse_url: str | None, as_of: datetime, programmes: tuple[str, ...]) -> None:
    """Re-evaluate the cohort only (no ingest, no linkage), e.g. after changing a threshold.

    Example:

        familyhub cohort --programme tf2012 --as-of 2026-11-01
    """
    from pipeline.programme.identification import evaluate_cohort, load_inputs

    wh = open_warehouse(warehouse_url)
    inputs = load_inputs(wh, keys=False)
    for i, programme in enumerate(reversed(programmes)):
        try:
            evaluate_cohort(wh, programme, _day(as_of), active=i == len(programmes) - 1, inputs=inputs)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    for programme in programmes:
        print_summary(wh, Path(programme).stem, _day(as_of))


@click.command()
@warehouse_option
@click.argument("family_id")
@click.option("--json", "as_json", is_flag=True)
@identity_options(reason_required=True)
def family(warehouse_url: str | None, family_id: str, as_json: bool, who: str, reason: str) -> None:
    """One family's view: members, criteria with their evidence, and the timeline.

    Identifiable: say why with --reason; the read is written to the audit log first.

    Example:

        familyhub family F3a9c0e12b4 --reason "case 1234 planning meeting"
    """
    from pipeline.governance.audit import record

    wh = open_warehouse(warehouse_url)
    record(wh, "view_family", who=who, reason=reason, family_id=family_id)
    params = {"f": family_id}
    view = wh.read("select * from reporting.family_view where family_id = :f", params)
    if view.empty:
        raise click.ClickException(f"no family {family_id}")
    members = wh.read("select * from reporting.family_member where family_id = :f order by role, date_of_birth",
                      params)
    evidence = wh.read("select v.* from reporting.family_evidence v join cohort.active a "
                       "on v.programme = a.programme and v.as_of = a.as_of where v.family_id = :f "
                       "order by criterion, event_date", params)
    timeline = wh.read("select * from reporting.family_timeline where family_id = :f "
                       "order by event_date, agency, record_key", params)
    needs = wh.read("select * from reporting.recorded_need where family_id = :f "
                    "order by identified_on, need_id", params)
    if as_json:
        out = {"family": view.iloc[0].to_dict(), "members": members.to_dict("records"),
               "evidence": evidence.to_dict("records"), "recorded_needs": needs.to_dict("records"),
               "timeline": timeline.to_dict("records")}
        click.echo(json.dumps(out, indent=2, default=str))
        return
    v = view.iloc[0]
    click.secho(f"Family {family_id}  {v.address_line or ''} {v.postcode or ''}", bold=True)
    click.echo(f"status: {v.status or 'not in cohort'}  key worker: {v.key_worker or '-'}  "
               f"eligible: {bool(v.eligible)} ({v.basis or '-'})  priority: {v.priority_rank if pd.notna(v.priority_rank) else '-'}  "
               f"estimated annual cost: £{float(v.estimated_annual_cost):,.0f}")
    click.secho("\nMembers", bold=True)
    for m in members.itertuples():
        click.echo(f"  {m.person_id:<13} {m.role:<6} {m.first_name or ''} {m.last_name or ''}  "
                   f"{str(m.date_of_birth)[:10] if pd.notna(m.date_of_birth) else '?':<10}  {m.agencies}")
    click.secho(f"\nCriteria: {v.criteria or 'none'}", bold=True)
    for crit, rows in evidence.groupby("criterion"):
        click.echo(f"  {crit}")
        for e in rows.itertuples():
            click.echo(f"    {str(e.event_date)[:10]}  {e.agency:<10} {e.person_id or '':<13} {e.detail}")
    click.secho(f"\nRecorded needs: {len(needs) or 'none'}", bold=True)
    for n in needs.itertuples():
        state = f"{n.outcome} {str(n.closed_on)[:10]}" if n.outcome else "open"
        click.echo(f"  {str(n.identified_on)[:10]}  {n.need_id}  {n.headline:<22} {state:<22} {n.recorded_by}: {n.evidence}")
    click.secho("\nTimeline", bold=True)
    for t in timeline.itertuples():
        click.echo(f"  {str(t.event_date)[:10]}  {t.agency:<10} {t.person_id:<13} {t.event_type:<26} {t.detail or ''}")


@click.command()
@warehouse_option
@as_of_option
@click.option("--programme", "programmes", multiple=True, required=True,
              help="Exactly two programmes to compare (repeat the option).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the family-by-family comparison to this CSV (audited: needs --reason).")
@identity_options(reason_required="csv_path")
def compare(warehouse_url: str | None, as_of: datetime, programmes: tuple[str, ...], csv_path: Path | None,
            who: str, reason: str | None) -> None:
    """Which families each programme admits, and why they differ.

    The CSV (--csv) names every family with its criteria: say why with --reason; it is
    audited, one row per family, before it is written.

    Example:

        familyhub compare --programme tf2015 --programme sf2022 --as-of 2026-11-01
    """
    from pipeline.governance.exports import export_identifiable
    from pipeline.programme.cohort import compare as diff
    from pipeline.programme.cohort import evaluate, load_programme, rule_differences
    from pipeline.programme.identification import load_inputs
    from pipeline.programme.needs import recorded_frame

    if len(programmes) != 2:
        raise click.BadParameter("give exactly two programmes", param_hint="--programme")
    wh = open_warehouse(warehouse_url)
    events, members, referrals = load_inputs(wh)
    needs = recorded_frame(wh)
    a, b = (evaluate(load_programme(p), events, members, _day(as_of), referrals, needs) for p in programmes)
    table = diff(a, b)
    counts = table.groupby("admitted_by").size()
    click.secho(f"{programmes[0]} vs {programmes[1]} at {_day(as_of)}", bold=True)
    click.echo("rules:")
    for line in rule_differences(a.programme, b.programme) or ["the same"]:
        click.echo(f"  {line}")
    click.echo("families:")
    for side, n in counts.items():
        click.echo(f"  admitted by {side}: {n}")
    for row in table[table["admitted_by"] != "both"].head(20).itertuples():
        click.echo(f"  {row.family_id}: {row.why}")
    if csv_path:
        export_identifiable(wh, table, csv_path, who=who, reason=reason,
                            what=f"cohort comparison {programmes[0]} vs {programmes[1]} at {_day(as_of)}")
        click.echo(f"wrote {csv_path}")


COMMANDS = [run, cohort, family, compare]
