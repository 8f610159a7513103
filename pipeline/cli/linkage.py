"""Commands about linkage: link, review (list, export, import, undo) and explain."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
import pandas as pd

from pipeline.cli.options import as_of_option, identity_options, open_warehouse, warehouse_option

__all__ = ["COMMANDS"]


def _mention_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A record as ``agency|record_key`` (the record key may itself hold ``|``)."""
    agency, _, key = value.partition("|")
    if not agency or not key:
        raise click.BadParameter(f"{value!r}: give agency|record_key, e.g. 'police|OC/2026/004512|N123456'")
    return value


def _side_by_side(details: pd.DataFrame, left: str, right: str, indent: str = "  ") -> list[str]:
    """Two records' identifying details in two columns; fields empty on both sides are left out."""
    rows = details.set_index("mention_id").reindex([left, right]).drop(columns="agency", errors="ignore")
    shown = rows.T.fillna("").astype(str)
    shown = shown[(shown != "").any(axis=1)]
    width = max([len(left), *shown.iloc[:, 0].str.len()], default=0) + 2
    lines = [f"{indent}{'':<14}{left:<{width}}{right}"]
    lines += [f"{indent}{field:<14}{a:<{width}}{b}" for field, (a, b) in shown.iterrows()]
    return lines


@click.command()
@warehouse_option
@as_of_option
@click.option("--full", is_flag=True, help="Re-link everything and retrain, instead of only new records.")
def link(warehouse_url: str | None, as_of: datetime, full: bool) -> None:
    """Link records into persons and persons into families (incremental after the first run).

    Standing clerical-review decisions bind every run (see `familyhub review`).

    Example:

        familyhub link --as-of 2026-11-01
    """
    from pipeline.runner import link as run

    try:
        summary = run(open_warehouse(warehouse_url), as_of.date(), full=full)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(summary, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def review() -> None:
    """Clerical review of uncertain pairs: list, export, import decisions, undo.

    Reviewing is blind (no scores unless asked). A decided pair is never queued again, and
    decisions bind every later `familyhub link`: `match` joins the two records' persons,
    `non-match` keeps them apart. Answers: match, non-match, unsure, undo. Listing and
    exporting show names: say why with --reason (audited).

    Example:

        familyhub review export review.csv --reason "weekly review" && familyhub review import review.csv --by "A Khan"
    """


_unsure_option = click.option("--unsure", is_flag=True,
                              help="Also show pairs answered 'unsure' (e.g. for a senior reviewer).")
_scores_option = click.option("--with-scores", is_flag=True,
                              help="Show match weights (off by default: reviewing is blind).")


@review.command("list")
@warehouse_option
@_scores_option
@_unsure_option
@click.option("--limit", type=click.IntRange(0), default=20, show_default=True,
              help="Pairs to show (0: all).")
@identity_options(reason_required=True)
def list_queue(warehouse_url: str | None, with_scores: bool, unsure: bool, limit: int, who: str,
               reason: str) -> None:
    """Show the pairs waiting for review, the two records side by side.

    Identifiable: say why with --reason; the persons and families shown are audited first.

    Example:

        familyhub review list --limit 5 --reason "weekly review"
    """
    from pipeline.governance.audit import record
    from pipeline.linkage.review_queue import mention_details, open_queue, subjects_of

    wh = open_warehouse(warehouse_url)
    queue = open_queue(wh, requeue_unsure=unsure)
    click.echo(f"{len(queue)} pair(s) waiting for review")
    shown = queue if limit == 0 else queue.head(limit)
    mention_ids = pd.concat([shown["mention_id_l"], shown["mention_id_r"]])
    record(wh, "view_records", who=who, reason=reason, subjects=subjects_of(wh, mention_ids),
           detail=f"review list: {len(shown)} pair(s)")
    details = mention_details(wh, mention_ids)
    for n, pair in enumerate(shown.itertuples(), start=1):
        score = f"  weight {pair.match_weight:.2f}, p={pair.match_probability:.4f}" if with_scores else ""
        click.secho(f"\n#{n}{score}", bold=True)
        click.echo("\n".join(_side_by_side(details, pair.mention_id_l, pair.mention_id_r)))
    if len(shown) < len(queue):
        click.echo(f"\n... {len(queue) - len(shown)} more: `familyhub review export FILE.csv --reason TEXT` for all")


@review.command("export")
@warehouse_option
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@_scores_option
@_unsure_option
@identity_options(reason_required=True)
def export(warehouse_url: str | None, out: Path, with_scores: bool, unsure: bool, who: str, reason: str) -> None:
    """Write the review queue to OUT as a CSV to fill in (decision, decided_by, note).

    Identifiable: say why with --reason; the export is audited (one row per person and family
    in it) before it is written. Cells that a spreadsheet would run as a formula are prefixed
    with an apostrophe.

    Example:

        familyhub review export review.csv --reason "weekly review"
    """
    from pipeline.linkage.review_queue import export_review

    n = export_review(open_warehouse(warehouse_url), out, who=who, reason=reason, with_scores=with_scores,
                      requeue_unsure=unsure)
    click.echo(f"wrote {n} pair(s) to {out}")


@review.command("import")
@warehouse_option
@click.argument("decisions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--by", "by", metavar="NAME", help="Reviewer recorded on rows whose decided_by is blank.")
def import_(warehouse_url: str | None, decisions: Path, by: str | None) -> None:
    """Validate a filled-in review CSV and record its decisions (re-importing changes nothing).

    Rows with a blank decision are skipped. A file with any problem is refused as a whole,
    each problem named by line and field.

    Example:

        familyhub review import review.csv --by "A Khan"
    """
    from matching.review import DecisionImportError
    from pipeline.linkage.review_queue import import_decisions

    try:
        outcome = import_decisions(open_warehouse(warehouse_url), decisions, by=by)
    except DecisionImportError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"recorded {outcome.added} decision(s); {outcome.unchanged} already recorded. "
               "They bind from the next `familyhub link`.")


@review.command("undo")
@warehouse_option
@click.argument("mention_a", callback=_mention_id)
@click.argument("mention_b", callback=_mention_id)
@click.option("--by", "by", metavar="NAME", required=True, help="Who withdraws the decision.")
@click.option("--note", default="", help="Why.")
def undo(warehouse_url: str | None, mention_a: str, mention_b: str, by: str, note: str) -> None:
    """Withdraw the standing decision on a pair of records (agency|record_key each).

    Example:

        familyhub review undo 'police|OC/2026/004512|N123456' 'health|RX010000031' --by "A Khan"
    """
    from pipeline.linkage.review_queue import undo_decision

    outcome = undo_decision(open_warehouse(warehouse_url), mention_a, mention_b, by=by, note=note)
    if not outcome.added:
        raise click.ClickException(f"no standing decision on {mention_a} and {mention_b}")
    click.echo("decision withdrawn; it stops binding from the next `familyhub link`")


def _waterfall_lines(frame: pd.DataFrame) -> list[str]:
    lines = [f"  {'comparison':<18} {'level':<22} {'m':>8} {'u':>8} {'weight':>8} {'cumulative':>10}"]
    for r in frame.itertuples():
        m = "" if pd.isna(r.m) else f"{r.m:.3g}"
        u = "" if pd.isna(r.u) else f"{r.u:.3g}"
        lines.append(f"  {r.comparison:<18} {r.level!s:<22} {m:>8} {u:>8} {r.weight:>+8.2f} {r.cumulative:>10.2f}")
    return lines


@click.command()
@warehouse_option
@click.argument("mention_a", callback=_mention_id)
@click.argument("mention_b", callback=_mention_id)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@identity_options(reason_required=True)
def explain(warehouse_url: str | None, mention_a: str, mention_b: str, as_json: bool, who: str,
            reason: str) -> None:
    """Why two records (agency|record_key each) were or were not linked: the waterfall.

    The prior log-odds, then each comparison's level and its log2 Bayes factor, then the total
    match weight and probability. A pair never scored is scored now with the saved model.
    Identifiable (both records are shown): say why with --reason; audited first.

    Example:

        familyhub explain 'police|OC/2026/004512|N123456' 'health|RX010000031' --reason "case 1234"
    """
    from pipeline.governance.audit import record
    from pipeline.linkage.review_queue import explain_pair, subjects_of

    if mention_a == mention_b:
        raise click.BadParameter("give two different records", param_hint="MENTION_B")
    wh = open_warehouse(warehouse_url)
    record(wh, "view_records", who=who, reason=reason, subjects=subjects_of(wh, [mention_a, mention_b]),
           detail="explain: two records")  # no record keys here: the log outlives erasure
    try:
        ex = explain_pair(wh, mention_a, mention_b)
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc
    if as_json:
        out = {"mention_ids": ex.mention_ids, "status": ex.status, "run_id": ex.run_id,
               "stored_weight": ex.stored_weight, "persons": ex.persons, "decision": ex.decision,
               "waterfall": ex.waterfall.to_dict("records")}
        click.echo(json.dumps(out, indent=2, default=str))
        return
    click.secho(f"{mention_a}  vs  {mention_b}", bold=True)
    click.echo("\n".join(_side_by_side(ex.details, mention_a, mention_b)))
    if ex.status is None:
        click.echo(f"\nnever scored (blocking did not propose the pair, or it scored below the review "
                   f"band and was not kept); scored now with the model of run {ex.run_id}:")
    else:
        click.echo(f"\nscored in run {ex.run_id}: {ex.status}, match weight {ex.stored_weight:.2f}")
    click.echo("\n".join(_waterfall_lines(ex.waterfall)))
    a, b = ex.persons
    if a is not None and b is not None:
        click.echo(f"\nnow: {a} and {b} ({'same person' if a == b else 'different persons'})")
    if ex.decision is not None:
        d = ex.decision
        click.echo(f"review decision: {d['decision']} by {d['decided_by']} at {d['decided_at']}")


COMMANDS = [link, review, explain]
