"""Person linkage benchmark: FamilyHub against Splink (DuckDB backend) on generated data.

Both systems link the same ``staging.person_mentions`` frame (generated landing files,
ingested into an embedded DuckDB warehouse) in the same run; pairwise precision, recall
and F1 are measured against the generator's truth, joined on (agency, record_key).

Run (from the repository root)::

    .venv/bin/python -m benchmarks.linkage --households 2000 20000

Generated data and the warehouse are cached under ``--workdir`` (default
``$TMPDIR/familyhub-bench``), keyed by households and seed, so a re-run only re-links.
Splink is trained as its documentation advises: ``estimate_probability_two_random_records_match``
from deterministic rules, ``estimate_u_using_random_sampling``, then EM sessions blocked
on date of birth and on names, with term-frequency adjustments on names.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from matching.explain import pairwise_scores
from matching.households import build_households
from matching.matcher import Matcher, MatchSettings
from pipeline.linkage.link import household_evidence

WORKDIR = Path(tempfile.gettempdir()) / "familyhub-bench"


def mentions_with_truth(
    households: int, seed: int, workdir: Path, fast_ingest: bool = False, errors: str = "none"
) -> tuple[pd.DataFrame, str]:
    """A generated data set's mention frame with ``true_person_id`` and ``true_household_id``
    (cached as parquet), and the generator's as-of date.

    ``fast_ingest`` builds the mention frame with the ingest's own readers and canonical
    mapping but without its quality gates and warehouse (for scale runs: bad rows stay in).
    """
    from pipeline.generator import generate

    root = workdir / (f"generated_{households}_{seed}" + ("" if errors == "none" else f"_{errors}"))
    cached = root / ("mentions_fast.parquet" if fast_ingest else "mentions.parquet")
    if not cached.exists():
        if not (root / "truth.csv").exists():
            generate(root, households=households, seed=seed, errors=errors)
        frame = _canonical_mentions(root / "landing") if fast_ingest else _ingested_mentions(root)
        frame.to_parquet(cached)
    mentions = pd.read_parquet(cached)
    truth = pd.read_csv(root / "truth.csv", dtype=str).drop_duplicates(
        ["agency", "record_key"], keep="last"
    )
    as_of = json.loads((root / "manifest.json").read_text())["as_of"]
    columns = ["agency", "record_key", "true_person_id", "true_household_id"]
    return mentions.merge(truth[columns], on=["agency", "record_key"], how="inner"), as_of


def _ingested_mentions(root: Path) -> pd.DataFrame:
    """``staging.person_mentions`` after the real ingest into an embedded warehouse."""
    from pipeline.ingest.load import ingest_landing
    from pipeline.warehouse.engine import Warehouse

    wh = Warehouse.connect(f"duckdb:///{root / 'warehouse.duckdb'}")
    wh.migrate()
    ingest_landing(wh, root / "landing", root / "quarantine")
    frame = wh.read("select * from staging.person_mentions")
    wh.engine.dispose()
    return frame


def _canonical_mentions(landing: Path) -> pd.DataFrame:
    """Every landing file through the ingest's reader and canonical mapping, oldest first;
    a later version of a record replaces the earlier one, as in the warehouse."""
    from pipeline.ingest.agencies import get_agency, load_agencies, parse_file_name
    from pipeline.ingest.canonical import canonical_frames
    from pipeline.ingest.extracts import read_extract
    from pipeline.ingest.load import find_files

    frames = []
    for name in load_agencies():
        agency = get_agency(name)
        for file_id, path in enumerate(find_files(landing, name)):
            extract = parse_file_name(path.name, agency).extract_date
            for chunk in read_extract(path, agency):
                frames.append(canonical_frames(agency, chunk, file_id, 1, extract)[0])
    return pd.concat(frames, ignore_index=True).drop_duplicates("mention_id", keep="last")


def run_familyhub(mentions: pd.DataFrame) -> tuple[pd.Series, float]:
    """Cluster per mention and seconds (training included)."""
    start = time.perf_counter()
    truth_columns = ["true_person_id", "true_household_id"]
    result = Matcher(MatchSettings()).link_persons(mentions.drop(columns=truth_columns))
    seconds = time.perf_counter() - start
    return result.clusters.set_index("mention_id")["cluster"], seconds


def _splink_frame(mentions: pd.DataFrame) -> pd.DataFrame:
    """The same mentions with the derived columns Splink's blocking rules need."""
    from matching import standardise as st

    dob = pd.to_datetime(mentions["dob"], errors="coerce")
    parts = st.postcode_parts(mentions["postcode"])
    frame = pd.DataFrame(
        {
            "unique_id": mentions["mention_id"],
            "agency": mentions["agency"],
            "first_name": mentions["first_name"],
            "surname": mentions["last_name"],
            "dob": dob.dt.strftime("%Y-%m-%d"),
            "dob_year": dob.dt.year.astype("Int64").astype("string"),
            "sex": mentions["sex"],
            "postcode": mentions["postcode"],
            "postcode_district": parts["district"],
            "address": mentions["address"],
            "nhs_number": mentions["nhs_number"],
            "upn": mentions["upn"],
            "nino": mentions["nino"],
            "source_person_id": mentions["source_person_id"],
        }
    )
    frame["first_name_surname_concat"] = frame["first_name"] + " " + frame["surname"]
    return frame.astype(object).where(frame.notna(), None)


def run_splink(
    mentions: pd.DataFrame, thresholds: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99, 0.999)
) -> tuple[dict[float, pd.Series], float]:
    """Splink clusters at several match-probability thresholds, and seconds for one threshold."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    frame = _splink_frame(mentions)
    start = time.perf_counter()
    db_api = DuckDBAPI()
    source_id = cl.CustomComparison(
        output_column_name="source_person_id",
        comparison_levels=[
            cll.CustomLevel(
                "source_person_id_l IS NULL OR source_person_id_r IS NULL OR agency_l <> agency_r"
            ).configure(is_null_level=True),
            cll.ExactMatchLevel("source_person_id"),
            cll.ElseLevel(),
        ],
    )
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.ForenameSurnameComparison(
                "first_name",
                "surname",
                forename_surname_concat_col_name="first_name_surname_concat",
            ),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode"),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.8]),
            cl.ExactMatch("sex"),
            cl.ExactMatch("nhs_number"),
            cl.ExactMatch("upn"),
            cl.ExactMatch("nino"),
            source_id,
        ],
        blocking_rules_to_generate_predictions=[
            block_on("nhs_number"),
            block_on("upn"),
            block_on("nino"),
            block_on("source_person_id"),
            block_on("first_name", "dob"),
            block_on("surname", "dob_year"),
            block_on("dob", "postcode_district"),
            block_on("surname", "postcode"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(db_api.register(frame), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob"), block_on("nhs_number"), block_on("upn")],
        recall=0.8,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "surname")
    )
    predictions = linker.inference.predict(threshold_match_probability=min(thresholds))
    clusters = {}
    seconds = 0.0
    for i, threshold in enumerate(sorted(thresholds, reverse=True)):
        table = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        ).as_pandas_dataframe()
        clusters[threshold] = table.set_index("unique_id")["cluster_id"]
        if i == 0:
            seconds = time.perf_counter() - start
    return clusters, seconds


def blocking_report(mentions: pd.DataFrame) -> pd.DataFrame:
    """Pairs each blocking pass adds and the cumulative pairs-completeness against the truth."""
    truth = mentions["true_person_id"]
    blocking = Matcher(MatchSettings()).blocking
    report = blocking.completeness(mentions.drop(columns=["true_person_id", "true_household_id"]), truth)
    report.index.name = f"pass (true pairs: {report.attrs['true_pairs']:,})"
    return report


def families(mentions: pd.DataFrame, persons: pd.Series, as_of: str) -> pd.Series:
    """Household key per mention, from the households stage run on the given person clusters."""
    linked = mentions.assign(person_id=persons.reindex(mentions["mention_id"]).to_numpy())
    members = build_households(linked, as_of, evidence=household_evidence()).members.set_index("person_id")["household_key"]
    return pd.Series(members.reindex(linked["person_id"]).to_numpy(), index=mentions["mention_id"])


def _measure(
    mentions: pd.DataFrame, persons: pd.Series, as_of: str, system: str, seconds: float
) -> list[dict]:
    """Person and family rows of the results table for one clustering."""
    by_id = mentions.set_index("mention_id")
    rows = []
    for level, found, truth in (
        ("persons", persons, by_id["true_person_id"]),
        ("families", families(mentions, persons, as_of), by_id["true_household_id"]),
    ):
        scores = pairwise_scores(found, truth.reindex(found.index))
        rows.append({"records": len(mentions), "system": system, "level": level,
                     **_row(scores, seconds)})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument(
        "--errors", choices=["none", "hostile"], default="none",
        help="errors of real records in the generated data (pipeline.generator.errors)",
    )
    parser.add_argument(
        "--fast-ingest",
        action="store_true",
        help="build mentions without the quality gates and warehouse (scale runs)",
    )
    args = parser.parse_args()
    rows = []
    for households in args.households:
        mentions, as_of = mentions_with_truth(
            households, args.seed, args.workdir, args.fast_ingest, args.errors
        )
        persons, seconds = run_familyhub(mentions)
        found = _measure(mentions, persons, as_of, "familyhub", seconds)
        if not args.skip_splink:
            by_threshold, seconds = run_splink(mentions)
            for threshold, persons in by_threshold.items():
                found += _measure(mentions, persons, as_of, f"splink@{threshold}", seconds)
        rows += [{"households": households, **r} for r in found]
        print(f"\nblocking at {households} households:")
        print(blocking_report(mentions).to_markdown(floatfmt=("", ".0f", ".0f", ".4f")))
    table = pd.DataFrame(rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(table.to_markdown(index=False, floatfmt=".4f"))
    print(f"\npeak resident memory of this process: {peak:.2f} GiB")


def _row(scores: dict[str, float], seconds: float) -> dict[str, float]:
    return {
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "seconds": round(seconds, 2),
    }


if __name__ == "__main__":
    main()
