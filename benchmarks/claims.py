"""Benchmark: a window's payment-by-results claims for N attached families (sf2022 by default).

Households and events are built as in ``benchmarks/cohort.py``; the first N families eligible
on 1 April 2025 are attached on days spread over April-September 2025 and closed 60-180 days
later, a third with a recorded need closed achieved at closure. Timed: ``claims.assess`` for
window 2026-H1 (what ``familyhub claims`` runs after reading the warehouse).

    .venv/bin/python benchmarks/claims.py --households 20000 --attached 2000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from cohort import build_events, build_members

from pipeline.programme.claims import assess
from pipeline.programme.cohort import evaluate, load_programme
from pipeline.programme.payments import ClaimWindow, load_payments


def cases(cohort: pd.DataFrame, n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attachment episodes and recorded needs of the first n eligible families."""
    families = cohort.loc[cohort["eligible"], "family_id"].head(n).to_numpy()
    attached = pd.Timestamp("2025-04-01") + pd.to_timedelta(rng.integers(0, 183, len(families)), unit="D")
    closed = attached + pd.to_timedelta(rng.integers(60, 181, len(families)), unit="D")
    episodes = pd.DataFrame({"family_id": families, "attached_on": attached, "closed_on": closed})
    some = np.arange(len(families)) % 3 == 0
    needs = pd.DataFrame({"need_id": "N" + pd.Series(np.flatnonzero(some)).astype(str), "family_id": families[some],
                          "headline": "early_years", "identified_on": attached[some] - pd.Timedelta(days=7),
                          "evidence": "speech delay", "recorded_by": "benchmark", "outcome": "achieved",
                          "closed_on": closed[some]})
    return episodes, needs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--attached", type=int, default=2_000)
    parser.add_argument("--programme", default="sf2022", help="programme name (with a payments file)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    members = build_members(args.households, rng)
    events = build_events(members, rng)
    members = members.drop(columns="is_child")
    programme = load_programme(args.programme)
    episodes, needs = cases(evaluate(programme, events, members, "2025-04-01").cohort, args.attached, rng)
    print(f"built {args.households:,} households, {len(events):,} events; {len(episodes):,} families attached "
          f"({episodes['closed_on'].nunique()} closing dates), {len(needs):,} recorded needs")
    wall, cpu = time.perf_counter(), time.process_time()
    result = assess(programme, load_payments(programme), events, members, episodes, ClaimWindow.parse("2026-H1"),
                    needs=needs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    counts = result.claims.groupby("payment").size().to_dict()
    print(f"{programme.name} 2026-H1: assessed {len(episodes):,} families in {wall:.1f} s (cpu {cpu:.1f} s); "
          f"claims {counts or 'none'}")


if __name__ == "__main__":
    main()
