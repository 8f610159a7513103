"""Commands that bring data in: generate, ingest, reprocess, status, suites."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import click

from pipeline.cli.options import archive_option, landing_options, open_warehouse, warehouse_option
from pipeline.generator.errors import DEFAULT_ERRORS, ERROR_PRESETS

__all__ = ["COMMANDS"]


@click.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--households", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--bad-files/--no-bad-files", default=True, show_default=True,
              help="Also write deliberately bad files under OUT/bad/ and a few bad rows.")
@click.option("--extracts", type=click.IntRange(3), default=4, show_default=True,
              help="Monthly extracts per agency, the first a backfill (13: a baseline and a year of deltas).")
@click.option("--errors", type=click.Choice(sorted(ERROR_PRESETS)), default=DEFAULT_ERRORS, show_default=True,
              help="Errors of real records (wrong but valid identifiers, namesakes, shared addresses...); "
                   "'none' gives the clean data of before issue 13.")
def generate(out: Path, households: int, seed: int, bad_files: bool, extracts: int, errors: str) -> None:
    """Write realistic synthetic extracts for every agency into OUT/landing, with a truth file.

    Example:

        familyhub generate demo --households 2000 --seed 7
        familyhub generate year --households 2000 --extracts 13   # delivered month by month
    """
    from pipeline.generator import generate as run

    summary = run(out, households=households, seed=seed, bad_files=bad_files, extracts=extracts, errors=errors)
    click.echo(json.dumps(summary, indent=2, default=str))


def _print_outcomes(outcomes: list, as_json: bool, quarantine: Path) -> None:
    if as_json:
        click.echo(json.dumps([o.as_dict() for o in outcomes], indent=2, default=str))
        return
    for o in outcomes:
        counts = f"{o.rows_loaded} loaded, {o.rows_held} held back" if o.status == "loaded" else (o.reason or "")
        colour = {"loaded": "green", "refused": "red"}.get(o.status, "yellow")
        click.echo(f"{o.agency:<11} {o.file_name:<28} " + click.style(f"{o.status:<9}", fg=colour) + f" {counts}")
        if o.report_path:
            click.echo(f"{'':<11} report: {o.report_path}")
    if any(o.data_docs for o in outcomes):
        from pipeline.ingest.data_docs import folder

        click.echo(f"Great Expectations Data Docs of these files: {folder(quarantine) / 'index.html'}")


@click.command()
@warehouse_option
@landing_options
@click.option("--agency", "agencies", multiple=True, help="Only these agencies (repeatable).")
@click.option("--max-bad-share", type=click.FloatRange(0, 1), envvar="FAMILYHUB_MAX_BAD_SHARE",
              help="Refuse a file when more than this share of rows break row rules [default: 0.10].")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome of every file as JSON.")
@archive_option
def ingest(warehouse_url: str | None, landing: Path, quarantine: Path, agencies: tuple[str, ...],
           max_bad_share: float | None, as_json: bool, archive: bool) -> None:
    """Gate and load every new file in the landing folders; refuse bad files into quarantine.

    Example:

        familyhub ingest --landing demo/landing --warehouse duckdb:///demo.duckdb
    """
    from pipeline.ingest.agencies import agency_names
    from pipeline.ingest.load import ingest_landing

    unknown = set(agencies) - set(agency_names())
    if unknown:
        raise click.BadParameter(f"unknown agency {', '.join(sorted(unknown))}", param_hint="--agency")
    if not landing.is_dir():
        raise click.ClickException(f"landing folder {landing} does not exist")
    wh = open_warehouse(warehouse_url)
    outcomes = ingest_landing(wh, landing, quarantine, agencies or None, max_bad_share, progress=not as_json,
                              archived=archive)
    if any(o.status == "refused" for o in outcomes):
        from pipeline.ingest.freshness import notify_refusals

        notify_refusals(wh)  # each refused file's agency contact hears once (when SMTP is set)
    _print_outcomes(outcomes, as_json, quarantine)


@click.command()
@warehouse_option
@landing_options
@click.option("--max-bad-share", type=click.FloatRange(0, 1), envvar="FAMILYHUB_MAX_BAD_SHARE",
              help="Share of bad rows allowed when re-running refused files [default: 0.10].")
@click.option("--json", "as_json", is_flag=True)
def reprocess(warehouse_url: str | None, landing: Path, quarantine: Path, max_bad_share: float | None,
              as_json: bool) -> None:
    """Re-run refused files (from quarantine) and held-back rows after a fix, without re-sending.

    Example:

        familyhub reprocess --landing demo/landing
    """
    from pipeline.ingest.load import reprocess as run

    result = run(open_warehouse(warehouse_url), quarantine, max_bad_share)
    if as_json:
        click.echo(json.dumps({"files": [f.as_dict() for f in result["files"]], "rows": result["rows"]}, indent=2))
        return
    _print_outcomes(result["files"], False, quarantine)
    for r in result["rows"]:
        click.echo(f"{r['agency']:<11} file {r['file_id']}: {r['released']} held rows released, "
                   f"{r['still_held']} still held")


@click.command()
@warehouse_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--at", type=click.DateTime(["%Y-%m-%d"]), default=lambda: date.today().isoformat(),
              show_default="today", help="Judge freshness at this date (YYYY-MM-DD).")
def status(warehouse_url: str | None, as_json: bool, at: datetime) -> None:
    """Per agency: files loaded and refused, rows sent, loaded, held back and in refused files;
    whether its extract is on schedule; deliveries whose linkage looks wrong.

    Example:

        familyhub status --json
    """
    from pipeline.ingest.status import agency_status, freshness_state

    stats = agency_status(open_warehouse(warehouse_url), at.date())
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    click.echo(f"{'agency':<11} {'files ok':>8} {'refused':>8} {'rows sent':>10} {'loaded':>10} {'held':>7} "
               f"{'in refused':>10}  {'latest':<10}  {'every':<7} {'expected by':<11}  state")
    for name, s in stats.items():
        f = s["freshness"]
        click.echo(f"{name:<11} {s['files_loaded']:>8} {s['files_refused']:>8} {s['rows_sent']:>10} "
                   f"{s['rows_loaded']:>10} {s['rows_held']:>7} {s['rows_in_refused_files']:>10}  "
                   f"{s['latest_extract'] or '-':<10}  {f['every']:<7} {f['expected_by'] or '-':<11}  "
                   + click.style(freshness_state(f), fg="red" if f["overdue"] else None))
    flagged = [(name, d) for name, s in stats.items() for d in s["flagged_deliveries"]]
    if flagged:
        click.secho("deliveries flagged by linkage monitoring (far below the agency's history):", fg="red")
        for _, d in flagged:
            click.echo(f"  {d['reason']}")


@click.command()
@click.option("--write", is_flag=True, help="Write expectations/<agency>.json for agencies without a suite.")
@click.option("--force", is_flag=True, help="With --write: overwrite existing suites too.")
def suites(write: bool, force: bool) -> None:
    """List the Great Expectations suites; scaffold missing ones from the agency declarations.

    Example:

        familyhub suites --write
    """
    from expectations import scaffold_suite, suite_path
    from pipeline.ingest.agencies import load_agencies

    for agency in load_agencies().values():
        path = suite_path(agency.name)
        if write and (force or not path.exists()):
            path.write_text(json.dumps(scaffold_suite(agency), indent=2) + "\n", encoding="utf-8")
            click.echo(f"{agency.name:<11} wrote {path}")
        else:
            n = len(json.loads(path.read_text())["expectations"]) if path.exists() else 0
            click.echo(f"{agency.name:<11} {path if path.exists() else 'MISSING'} ({n} expectations)")


COMMANDS = [generate, ingest, reprocess, status, suites]
