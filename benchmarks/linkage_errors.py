"""False and missed person pairs on generated data, by error kind (issue 13).

Runs the person linkage on a generated data set (``benchmarks.linkage`` caches it) and lists,
against the generator's truth:

* **false links**: pairs of different true persons in one cluster, with their relationship
  (twins, siblings, parent and child, junior namesake, other household) and the strongest
  accepted link joining their records;
* **missed pairs**: pieces of one true person left in different clusters, with the
  strongest scored pair between the pieces and the error kind its records show
  (:mod:`pipeline.generator.errors`: swapped names, first-letter typo, placeholder date,
  conflicting identifiers, step surname ...).

Counts are record pairs, as pairwise precision and recall count them. Run::

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.linkage_errors --seed 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.linkage import WORKDIR, mentions_with_truth
from matching.explain import pairwise_scores
from matching.matcher import Matcher, MatchSettings
from pipeline.generator.errors import DEFAULT_ERRORS, ERROR_PRESETS

TRUTH = ["true_person_id", "true_household_id"]
IDS = ["nhs_number", "upn", "nino", "source_person_id"]


def _mode(frame: pd.DataFrame, column: str) -> pd.Series:
    """Most common value of ``column`` per true person."""
    return frame.groupby("true_person_id")[column].agg(
        lambda s: s.mode().iloc[0] if s.notna().any() else None
    )


def relationship(a: pd.Series, b: pd.Series) -> str:
    """What two different true persons are to each other, from their usual details."""
    if a["household"] != b["household"]:
        return "other household"
    gap = abs(a["year"] - b["year"]) if pd.notna(a["year"]) and pd.notna(b["year"]) else np.nan
    if a["first_name"] == b["first_name"]:
        return "junior namesake" if gap >= 12 else "same first name"
    if a["dob"] == b["dob"]:
        return "twins"
    if gap >= 12:
        return "parent and child"
    return "siblings"


def error_kind(a: pd.Series, b: pd.Series, levels: dict[str, str]) -> str:
    """The error a missed pair's records show (first that applies)."""
    if levels["first_name"] == "swapped":
        return "name_swap"
    for ident in IDS:
        if levels.get(ident) == "else":
            return f"{ident} conflict"
    dates = {str(a["dob"])[:10], str(b["dob"])[:10]}
    if any(d.endswith("-01-01") for d in dates) or "nan" in dates or "None" in dates:
        return "placeholder or missing dob"
    for name in ("first_name", "last_name"):
        x, y = str(a[name]), str(b[name])
        if x != y and x[1:] == y[1:]:
            return f"first_letter_typo ({name})"
    if levels["last_name"] == "else":
        return "surname differs (step surname?)"
    if levels["dob"] != "exact":
        return f"dob {levels['dob']}"
    return "other (" + ", ".join(f"{k}={v}" for k, v in levels.items() if v != "exact") + ")"


def diagnose(mentions: pd.DataFrame) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Scores, false-link person pairs and missed person pieces of one linkage run."""
    matcher = Matcher(MatchSettings())
    result = matcher.link_persons(mentions.drop(columns=TRUTH))
    cluster = result.clusters.set_index("mention_id")["cluster"]
    m = mentions.assign(cluster=cluster.reindex(mentions["mention_id"]).to_numpy())
    scores = pairwise_scores(m["cluster"], m["true_person_id"])
    run = matcher.start_run(matcher.profiles(mentions.drop(columns=TRUTH)))
    m["profile"] = run.profiles.of_mention
    people = pd.DataFrame(
        {c: _mode(m, c) for c in ["first_name", "last_name", "dob", "true_household_id"]}
    ).rename(columns={"true_household_id": "household"})
    people["year"] = pd.to_datetime(people["dob"], errors="coerce").dt.year
    comparisons = matcher.settings.comparisons
    model = matcher.model

    def best_pair(pa: np.ndarray, pb: np.ndarray) -> tuple[float, dict[str, str], int, int]:
        left, right = np.repeat(pa, len(pb)), np.tile(pb, len(pa))
        lv = run.comparer.levels(left, right)
        w = model.match_weight(lv)
        i = int(np.argmax(w))
        labels = {c.name: c.labels[lv[i, k]] for k, c in enumerate(comparisons)}
        return float(w[i]), labels, int(left[i]), int(right[i])

    frame = run.profiles.frame
    # false links: per cluster, pairs of true persons
    sizes = m.groupby(["cluster", "true_person_id"]).size().rename("n").reset_index()
    mixed = sizes.merge(sizes, on="cluster")
    mixed = mixed[mixed["true_person_id_x"] < mixed["true_person_id_y"]]
    false_rows = []
    for row in mixed.itertuples():
        a, b = people.loc[row.true_person_id_x], people.loc[row.true_person_id_y]
        pa = m.loc[m["true_person_id"] == row.true_person_id_x, "profile"].unique()
        pb = m.loc[m["true_person_id"] == row.true_person_id_y, "profile"].unique()
        w, labels, i, j = best_pair(pa, pb)
        false_rows.append(
            {
                "pairs": row.n_x * row.n_y,
                "kind": relationship(a, b),
                "a": f"{a['first_name']} {a['last_name']} {str(a['dob'])[:10]}",
                "b": f"{b['first_name']} {b['last_name']} {str(b['dob'])[:10]}",
                "best_weight": round(w, 1),
                "best_levels": " ".join(f"{k}={v}" for k, v in labels.items() if v != "null"),
                "rec_a": " / ".join(
                    str(frame.at[i, c]) for c in ["agency", "first_name", "last_name", "dob", *IDS]
                ),
                "rec_b": " / ".join(
                    str(frame.at[j, c]) for c in ["agency", "first_name", "last_name", "dob", *IDS]
                ),
            }
        )
    # missed: per true person, pairs of clusters
    pieces = m.groupby(["true_person_id", "cluster"]).size().rename("n").reset_index()
    split = pieces.merge(pieces, on="true_person_id")
    split = split[split["cluster_x"] < split["cluster_y"]]
    missed_rows = []
    for row in split.itertuples():
        pa = m.loc[
            (m["cluster"] == row.cluster_x) & (m["true_person_id"] == row.true_person_id), "profile"
        ].unique()
        pb = m.loc[
            (m["cluster"] == row.cluster_y) & (m["true_person_id"] == row.true_person_id), "profile"
        ].unique()
        w, labels, i, j = best_pair(pa, pb)
        missed_rows.append(
            {
                "pairs": row.n_x * row.n_y,
                "kind": error_kind(frame.loc[i], frame.loc[j], labels),
                "best_weight": round(w, 1),
                "best_levels": " ".join(f"{k}={v}" for k, v in labels.items() if v != "null"),
                "rec_a": " / ".join(
                    str(frame.at[i, c])
                    for c in ["agency", "first_name", "last_name", "dob", "postcode", *IDS]
                ),
                "rec_b": " / ".join(
                    str(frame.at[j, c])
                    for c in ["agency", "first_name", "last_name", "dob", "postcode", *IDS]
                ),
            }
        )
    return scores, pd.DataFrame(false_rows), pd.DataFrame(missed_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--errors", choices=sorted(ERROR_PRESETS), default=DEFAULT_ERRORS)
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--rows", type=int, default=40, help="rows listed per table")
    args = parser.parse_args()
    mentions, _ = mentions_with_truth(args.households, args.seed, args.workdir, errors=args.errors)
    scores, false, missed = diagnose(mentions)
    print({k: round(v, 4) for k, v in scores.items()})
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 120)
    for title, table in (("false links", false), ("missed pairs", missed)):
        if table.empty:
            print(f"\n{title}: none")
            continue
        print(f"\n{title} by kind (record pairs):")
        print(
            table.groupby("kind")["pairs"].agg(["sum", "count"]).sort_values("sum", ascending=False)
        )
        print(table.sort_values("pairs", ascending=False).head(args.rows).to_string(index=False))


if __name__ == "__main__":
    main()
