"""A year in service: a generated area delivered as a baseline plus 12 monthly deltas.

Each month the month's files are copied into the landing folder and the whole pipeline runs
(:func:`pipeline.runner.run_all`: ingest, link, alerts, cohort, reporting), as the Airflow
DAGs would; eligible families are attached to key workers mid-year. It prints the seconds of
each delivery, the mean monthly delta against the baseline, and compares the final persons,
families and cohort with one run on every file at once (pairwise person F1 over records
between the two, family agreement, eligible-set agreement).

Run (from the repository root; PostgreSQL as in ``tests/conftest.py``)::

    .venv/bin/python -m benchmarks.year --households 2000
    .venv/bin/python -m benchmarks.year --households 20000 --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Target (issue 12): a monthly delta costs at most a fifth of the baseline at 20,000 households.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd

from benchmarks.scratch import pg_warehouse
from matching.explain import pairwise_scores
from pipeline.generator import generate
from pipeline.generator.errors import DEFAULT_ERRORS
from pipeline.generator.replay import Delivery, deliveries, stage
from pipeline.ingest.quality import prepare_gate
from pipeline.programme.keyworkers import attach
from pipeline.runner import RunSummary, run_all
from pipeline.warehouse.engine import Warehouse

WORKDIR = Path(tempfile.gettempdir()) / "familyhub-bench-year"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PROGRAMMES = ["tf2015"]


def attach_eligible(wh: Warehouse, as_of: date, n: int, key_workers: list[str]) -> list[str]:
    """Attach the ``n`` highest-priority eligible families not yet attached, round-robin to key
    workers; returns the families attached."""
    eligible = wh.read(
        "select v.family_id from reporting.family_view v where v.eligible and v.key_worker is null "
        "order by v.priority_rank, v.family_id limit :n", {"n": n})["family_id"].tolist()
    for i, family in enumerate(eligible):
        attach(wh, family, key_workers[i % len(key_workers)], as_of)
    return eligible


def replay(wh: Warehouse, out: Path, work: Path, *, before: Callable[[int, Delivery], None] | None = None,
           after: Callable[[int, Delivery], None] | None = None, progress: bool = False,
           stages: list[dict[str, float]] | None = None) -> list[float]:
    """Run the pipeline once per delivery of ``out``; seconds of each run (callbacks not timed).
    ``stages`` receives each run's seconds per step (:func:`stage_seconds`)."""
    landing, quarantine = work / "landing", work / "quarantine"
    seconds = []
    for month, delivery in enumerate(deliveries(out)):
        if before is not None:
            before(month, delivery)
        stage(out, delivery, landing)
        started = time.perf_counter()
        summary = run_all(wh, landing, quarantine, delivery.as_of, PROGRAMMES)
        seconds.append(time.perf_counter() - started)
        if stages is not None:
            stages.append(stage_seconds(summary))
        if progress:
            label = "baseline" if month == 0 else f"delta {month:2d}"
            print(f"{label} as of {delivery.as_of}: {len(delivery.files):3d} files, {seconds[-1]:7.1f} s", flush=True)
        if after is not None:
            after(month, delivery)
    return seconds


def stage_seconds(summary: RunSummary) -> dict[str, float]:
    """A run's seconds per step, the link step split into its parts (``link.read`` ...)."""
    parts = {f"link.{k}": v for k, v in summary.linkage.get("seconds", {}).items()}
    return {k: v for k, v in summary.seconds.items() if k != "link"} | parts


def stage_table(stages: list[dict[str, float]]) -> str:
    """Seconds per step: the baseline's, and the mean and max of the deltas'."""
    frame = pd.DataFrame(stages).fillna(0.0)
    table = pd.DataFrame({"baseline": frame.iloc[0], "delta mean": frame.iloc[1:].mean(),
                          "delta max": frame.iloc[1:].max()})
    return table.round(2).to_string()


def one_shot(wh: Warehouse, out: Path, work: Path) -> float:
    """Every delivery's files at once, one run as of the last month; seconds."""
    months = deliveries(out)
    landing = work / "landing"
    for delivery in months:
        stage(out, delivery, landing)
    started = time.perf_counter()
    run_all(wh, landing, work / "quarantine", months[-1].as_of, PROGRAMMES)
    return time.perf_counter() - started


def final_state(wh: Warehouse) -> dict[str, pd.DataFrame]:
    """Person and family per record, and the eligible families' records, at the end."""
    records = wh.read("select m.mention_id, m.person_id, f.family_id from linked.mention_person m "
                      "join linked.person_family f on f.person_id = m.person_id")
    eligible = wh.read("select family_id from reporting.family_view where eligible")["family_id"]
    return {"records": records, "eligible": records[records["family_id"].isin(eligible)]}


def agreement(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Pairwise F1 of the monthly run's persons and families against the one-shot run's, over
    records; and the Jaccard agreement of the records in eligible families."""
    both = a["records"].merge(b["records"], on="mention_id", suffixes=("_a", "_b"))
    persons = pairwise_scores(both["person_id_a"], both["person_id_b"])
    families = pairwise_scores(both["family_id_a"], both["family_id_b"])
    ea, eb = set(a["eligible"]["mention_id"]), set(b["eligible"]["mention_id"])
    return {"records": len(both), "person_f1": persons["f1"], "family_f1": families["f1"],
            "cohort_agreement": len(ea & eb) / max(len(ea | eb), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--attach", type=int, default=0, help="families attached in month 6 (default: 1%%)")
    parser.add_argument("--pg", default=PG_ADMIN, help="PostgreSQL admin URL (a database is created and dropped)")
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--no-one-shot", action="store_true", help="skip the one-shot comparison run")
    args = parser.parse_args()
    logging.getLogger("pipeline.runner").setLevel(logging.ERROR)  # the demo key warning, once a month

    out = args.workdir / f"generated_{args.households}_{args.seed}_{DEFAULT_ERRORS}"  # not a clean-data cache
    if not (out / "manifest.json").exists():
        generate(out, args.households, args.seed, extracts=13, bad_files=False)
    n_attach = args.attach or max(args.households // 100, 5)
    run = args.workdir / f"run_{uuid.uuid4().hex[:8]}"

    prepare_gate()  # Great Expectations' import (~5-10 s) once, before any timed run: not the baseline's
    with pg_warehouse(args.pg, prefix="fh_bench_year") as wh:
        def mid_year(month: int, delivery: Delivery) -> None:
            if month == 6:
                attached = attach_eligible(wh, delivery.as_of, n_attach, ["Key Worker A", "Key Worker B"])
                print(f"  attached {len(attached)} families on {delivery.as_of}")

        stages: list[dict[str, float]] = []
        seconds = replay(wh, out, run / "monthly", after=mid_year, progress=True, stages=stages)
        monthly = final_state(wh)
        reviews = wh.scalar("select count(*) from cohort.case_reviews")
    deltas = seconds[1:]
    print(f"households {args.households}: baseline {seconds[0]:.1f} s, monthly delta mean "
          f"{sum(deltas) / len(deltas):.1f} s, max {max(deltas):.1f} s; "
          f"mean delta / baseline = {sum(deltas) / len(deltas) / seconds[0]:.3f}; case review items {reviews}")
    print("seconds per step:\n" + stage_table(stages))
    if args.no_one_shot:
        return
    with pg_warehouse(args.pg, prefix="fh_bench_year") as wh:
        once = one_shot(wh, out, run / "once")
        print(f"one-shot run on every file: {once:.1f} s")
        agree = agreement(monthly, final_state(wh))
    print("monthly vs one-shot: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                              for k, v in agree.items()))


if __name__ == "__main__":
    main()
