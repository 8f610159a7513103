"""Person linkage benchmark: FamilyHub against Splink (DuckDB backend) on generated data.

Both systems link the same ``staging.person_mentions`` frame (generated landing files,
ingested into an embedded DuckDB warehouse) in the same run; pairwise precision, recall
and F1 are measured against the generator's truth, joined on (agency, record_key).

Run (from the repository root)::

    .venv/bin/python -m benchmarks.linkage --households 2000 20000
    .venv/bin/python -m benchmarks.linkage --households 2000 --errors hostile --seed 41 --review-oracle \
        --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Generated data and the warehouse are cached under ``--workdir`` (default
``$TMPDIR/familyhub-bench``), keyed by households and seed, so a re-run only re-links.
``--pg ADMIN_URL`` ingests into a scratch PostgreSQL database instead (created and dropped).

``--review-oracle`` runs the product's own clerical review with a perfect reviewer: in a
scratch warehouse (a copy of the cached embedded one, or the PostgreSQL one) ``familyhub link``,
``familyhub review export``, every pair answered from the truth file, ``familyhub review
import`` and ``familyhub link`` again; it prints the queue (pairs, and as a share of records)
and the persons and families before and after review.

Errors by group (GUILD guidance: linkage errors fall hardest on some groups) are printed for
each FamilyHub clustering: per agency, children and adults (true age at the as-of date) and
people whose true name has letters outside ASCII, the record-weighted pairwise recall and
precision and the missed and false links (record pairs, counted once per record involved).
Splink is trained as its documentation advises: ``estimate_probability_two_random_records_match``
from deterministic rules, ``estimate_u_using_random_sampling``, then EM sessions blocked
on date of birth and on names, with term-frequency adjustments on names.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from matching.explain import pairwise_scores
from matching.households import build_households
from matching.matcher import Matcher, MatchSettings
from pipeline.generator.errors import DEFAULT_ERRORS, ERROR_PRESETS
from pipeline.linkage.link import household_evidence

WORKDIR = Path(tempfile.gettempdir()) / "familyhub-bench"


def mentions_with_truth(
    households: int, seed: int, workdir: Path, fast_ingest: bool = False, errors: str = DEFAULT_ERRORS
) -> tuple[pd.DataFrame, str]:
    """A generated data set's mention frame with ``true_person_id`` and ``true_household_id``
    (cached as parquet), and the generator's as-of date.

    ``fast_ingest`` builds the mention frame with the ingest's own readers and canonical
    mapping but without its quality gates and warehouse (for scale runs: bad rows stay in).
    """
    root = generated(households, seed, workdir, errors)
    cached = root / ("mentions_fast.parquet" if fast_ingest else "mentions.parquet")
    if not cached.exists():
        frame = _canonical_mentions(root / "landing") if fast_ingest else _ingested_mentions(root)
        frame.to_parquet(cached)
    return with_truth(pd.read_parquet(cached), root)


def generated(households: int, seed: int, workdir: Path, errors: str = DEFAULT_ERRORS) -> Path:
    """The folder of a generated data set (generated now unless cached)."""
    from pipeline.generator import generate

    root = workdir / (f"generated_{households}_{seed}" + ("" if errors == "none" else f"_{errors}"))
    if not (root / "truth.csv").exists():
        generate(root, households=households, seed=seed, errors=errors)
    return root


def with_truth(mentions: pd.DataFrame, root: Path) -> tuple[pd.DataFrame, str]:
    """Mentions with their ``true_person_id`` and ``true_household_id`` (records the truth
    file does not know are left out), and the data set's as-of date."""
    truth = pd.read_csv(root / "truth.csv", dtype=str).drop_duplicates(
        ["agency", "record_key"], keep="last"
    )
    as_of = json.loads((root / "manifest.json").read_text())["as_of"]
    columns = ["agency", "record_key", "true_person_id", "true_household_id"]
    return mentions.merge(truth[columns], on=["agency", "record_key"], how="inner"), as_of


@contextmanager
def scratch_warehouse(root: Path, pg: str | None = None) -> Iterator[str]:
    """URL of a throw-away warehouse holding the data set's ingest: a fresh PostgreSQL
    database ingested now (``pg``: an admin URL), else a copy of the cached embedded one."""
    if pg is not None:
        from benchmarks.scratch import pg_warehouse
        from pipeline.ingest.load import ingest_landing

        with pg_warehouse(pg, prefix="fh_bench_linkage") as wh, tempfile.TemporaryDirectory() as tmp:
            ingest_landing(wh, root / "landing", Path(tmp) / "quarantine")
            yield wh.engine.url.render_as_string(hide_password=False)
        return
    if not (root / "warehouse.duckdb").exists():
        _ingested_mentions(root).to_parquet(root / "mentions.parquet")
    copy = root / f"scratch_{uuid.uuid4().hex[:8]}.duckdb"
    for part in root.glob("warehouse.duckdb*"):  # with its write-ahead log, if not checkpointed
        shutil.copyfile(part, copy.with_name(part.name.replace("warehouse", copy.stem)))
    try:
        yield f"duckdb:///{copy}"
    finally:
        for part in root.glob(f"{copy.name}*"):
            part.unlink()


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
    mentions: pd.DataFrame, persons: pd.Series, as_of: str, system: str, seconds: float,
    found_families: pd.Series | None = None,
) -> list[dict]:
    """Person and family rows of the results table for one clustering (families: the
    households stage run on ``persons`` unless given)."""
    by_id = mentions.set_index("mention_id")
    if found_families is None:
        found_families = families(mentions, persons, as_of)
    rows = []
    for level, found, truth in (
        ("persons", persons, by_id["true_person_id"]),
        ("families", found_families, by_id["true_household_id"]),
    ):
        scores = pairwise_scores(found, truth.reindex(found.index))
        rows.append({"records": len(mentions), "system": system, "level": level,
                     **_row(scores, seconds)})  # fmt: skip
    return rows


# -- clerical review with a perfect reviewer ------------------------------------------------


def _familyhub(*args: str) -> str:
    """Run a ``familyhub`` command in this process; its output (a failure raises)."""
    from click.testing import CliRunner

    from pipeline.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"familyhub {' '.join(args[:2])} failed: {result.output}")
    return result.output


def linked_state(url: str) -> tuple[pd.Series, pd.Series]:
    """Person and family per record (mention id) as the warehouse holds them now."""
    from pipeline.warehouse.engine import Warehouse

    wh = Warehouse.connect(url)
    try:
        rows = wh.read(
            "select m.mention_id, m.person_id, f.family_id from linked.mention_person m "
            "left join linked.person_family f on f.person_id = m.person_id"
        ).set_index("mention_id")
    finally:
        wh.engine.dispose()
    return rows["person_id"], rows["family_id"]


def oracle_answers(sheet: pd.DataFrame, truth: pd.Series) -> pd.DataFrame:
    """A review sheet answered by a perfect reviewer: ``match`` when both records are one true
    person, else ``non-match``; a pair with a record the truth does not know stays blank."""
    from pipeline.linkage.review_queue import restore_keys

    keys = restore_keys(sheet)
    left = truth.reindex(keys["agency_l"] + "|" + keys["record_key_l"]).to_numpy()
    right = truth.reindex(keys["agency_r"] + "|" + keys["record_key_r"]).to_numpy()
    known = pd.notna(left) & pd.notna(right)
    answer = np.where(left == right, "match", "non-match")
    return sheet.assign(decision=np.where(known, answer, ""))


def review_oracle(url: str, mentions: pd.DataFrame, as_of: str, workdir: Path) -> dict:
    """Link, export the review queue, answer it from the truth, import and link again, all with
    the ``familyhub`` commands on the warehouse at ``url``.

    Returns:
        ``queue`` (pairs exported), ``answered``, ``left`` (pairs still queued after the second
        link: what one round of review did not settle), ``seconds`` (the two links, export and
        import), and person and family per record ``before`` and ``after`` review.
    """
    from pipeline.linkage.review_queue import open_queue
    from pipeline.warehouse.engine import Warehouse

    truth = mentions.set_index("mention_id")["true_person_id"]
    sheet_path = workdir / f"review_{uuid.uuid4().hex[:8]}.csv"
    who = ("--as", "benchmark", "--reason", "review oracle benchmark")
    start = time.perf_counter()
    _familyhub("link", "--warehouse", url, "--as-of", as_of, "--full")
    before = linked_state(url)
    try:
        _familyhub("review", "export", "--warehouse", url, str(sheet_path), *who)
        sheet = pd.read_csv(sheet_path, dtype=str, keep_default_na=False)
        answered = oracle_answers(sheet, truth)
        answered.to_csv(sheet_path, index=False)
        _familyhub("review", "import", "--warehouse", url, str(sheet_path), "--by", "review oracle")
    finally:
        sheet_path.unlink(missing_ok=True)
    _familyhub("link", "--warehouse", url, "--as-of", as_of)
    seconds = time.perf_counter() - start
    wh = Warehouse.connect(url)
    try:
        left = len(open_queue(wh))
    finally:
        wh.engine.dispose()
    return {"queue": len(sheet), "answered": int((answered["decision"] != "").sum()), "left": left,
            "seconds": seconds, "before": before, "after": linked_state(url)}


# -- errors by group ------------------------------------------------------------------------


def record_groups(mentions: pd.DataFrame, root: Path, as_of: str) -> pd.DataFrame:
    """Per mention (index): ``agency``, ``age`` (child / adult: true age at ``as_of``) and
    ``name`` (non-ASCII when the true forename or surname has a letter outside ASCII)."""
    persons = pd.read_csv(root / "truth_persons.csv", dtype=str, keep_default_na=False).set_index(
        "true_person_id"
    )
    person = persons.reindex(mentions["true_person_id"])
    dob = pd.to_datetime(person["dob"], errors="coerce")
    child = (dob + pd.DateOffset(years=18)) > pd.Timestamp(as_of)
    names = person["first_name"] + person["last_name"]
    ascii_only = names.map(str.isascii)
    return pd.DataFrame(
        {
            "agency": mentions["agency"].to_numpy(),
            "age": np.where(child.to_numpy(), "child", "adult"),
            "name": np.where(ascii_only.to_numpy(), "ASCII", "non-ASCII"),
        },
        index=mentions["mention_id"].to_numpy(),
    )


def errors_by_group(found: pd.Series, truth: pd.Series, groups: pd.DataFrame) -> pd.DataFrame:
    """Missed and false links by group, over records.

    For each record, with ``n_t`` records of its true person, ``n_c`` records in its found
    cluster and ``n_ct`` in both: missed links ``n_t - n_ct``, false links ``n_c - n_ct``;
    a group's recall is ``sum(n_ct - 1) / sum(n_t - 1)`` over its records (pairwise recall
    when the group is everyone) and its precision ``sum(n_ct - 1) / sum(n_c - 1)``.

    Args:
        found: cluster per mention id; truth: true person per mention id (same index).
        groups: group columns per mention id (:func:`record_groups`).
    """
    frame = pd.DataFrame({"c": found.to_numpy(), "t": truth.reindex(found.index).to_numpy()})
    n_c = frame.groupby("c")["c"].transform("size").to_numpy()
    n_t = frame.groupby("t")["t"].transform("size").to_numpy()
    n_ct = frame.groupby(["c", "t"])["c"].transform("size").to_numpy()
    per = pd.DataFrame(
        {"found": n_ct - 1, "true": n_t - 1, "linked": n_c - 1, "missed": n_t - n_ct,
         "false": n_c - n_ct, "records": 1},
        index=found.index,
    )
    rows = []
    for column in groups.columns:
        sums = per.groupby(groups[column].reindex(found.index).to_numpy()).sum()
        rows.append(sums.assign(group=column).rename_axis("value").reset_index())
    table = pd.concat(rows, ignore_index=True)
    table["recall"] = table["found"] / table["true"].where(table["true"] > 0)
    table["precision"] = table["found"] / table["linked"].where(table["linked"] > 0)
    return table[["group", "value", "records", "recall", "precision", "missed", "false"]]


def _print_groups(title: str, found: pd.Series, mentions: pd.DataFrame, groups: pd.DataFrame) -> None:
    truth = mentions.set_index("mention_id")["true_person_id"]
    table = errors_by_group(found.reindex(truth.index), truth, groups)
    print(f"\nerrors by group, {title} (missed/false: links, counted once per record involved):")
    print(table.to_markdown(index=False, floatfmt=".4f"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument(
        "--errors", choices=sorted(ERROR_PRESETS), default=DEFAULT_ERRORS,
        help="errors of real records in the generated data (pipeline.generator.errors)",
    )
    parser.add_argument(
        "--fast-ingest",
        action="store_true",
        help="build mentions without the quality gates and warehouse (scale runs)",
    )
    parser.add_argument(
        "--pg", metavar="ADMIN_URL",
        help="ingest into a scratch PostgreSQL database (created and dropped), e.g. "
             "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument(
        "--review-oracle", action="store_true",
        help="answer the clerical-review queue from the truth through `familyhub review "
             "export/import`, re-link, and print the figures after review",
    )
    args = parser.parse_args()
    if args.fast_ingest and (args.pg or args.review_oracle):
        parser.error("--fast-ingest skips the warehouse that --pg and --review-oracle need")
    logging.getLogger("pipeline").setLevel(logging.ERROR)  # the demo pseudonym key warning
    rows = []
    for households in args.households:
        root = generated(households, args.seed, args.workdir, args.errors)
        with _mentions(root, households, args) as (mentions, as_of, url):
            rows += [{"households": households, **r} for r in _run(mentions, as_of, root, args)]
            if args.review_oracle:
                rows += [{"households": households, **r}
                         for r in _run_oracle(url, mentions, as_of, root, args.workdir)]
        print(f"\nblocking at {households} households:")
        print(blocking_report(mentions).to_markdown(floatfmt=("", ".0f", ".0f", ".4f")))
    table = pd.DataFrame(rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(table.to_markdown(index=False, floatfmt=".4f"))
    print(f"\npeak resident memory of this process: {peak:.2f} GiB")


@contextmanager
def _mentions(root: Path, households: int, args: argparse.Namespace
              ) -> Iterator[tuple[pd.DataFrame, str, str | None]]:
    """Mentions with truth, as-of date and the URL of a scratch warehouse holding them (None
    unless --pg or --review-oracle)."""
    if not (args.pg or args.review_oracle):
        yield *mentions_with_truth(households, args.seed, args.workdir, args.fast_ingest, args.errors), None
        return
    with scratch_warehouse(root, args.pg) as url:
        from pipeline.warehouse.engine import Warehouse

        wh = Warehouse.connect(url)
        try:
            frame = wh.read("select * from staging.person_mentions")
        finally:
            wh.engine.dispose()
        yield *with_truth(frame, root), url


def _run(mentions: pd.DataFrame, as_of: str, root: Path, args: argparse.Namespace) -> list[dict]:
    """FamilyHub (and Splink unless skipped) on the mentions: result rows; errors by group."""
    persons, seconds = run_familyhub(mentions)
    _print_groups("FamilyHub, automatic", persons, mentions, record_groups(mentions, root, as_of))
    found = _measure(mentions, persons, as_of, "familyhub", seconds)
    if not args.skip_splink:
        by_threshold, seconds = run_splink(mentions)
        for threshold, persons in by_threshold.items():
            found += _measure(mentions, persons, as_of, f"splink@{threshold}", seconds)
    return found


def _run_oracle(url: str, mentions: pd.DataFrame, as_of: str, root: Path, workdir: Path) -> list[dict]:
    """The link stage before and after a perfect reviewer answers its queue: result rows."""
    outcome = review_oracle(url, mentions, as_of, workdir)
    print(f"\nclerical review: {outcome['queue']:,} pair(s) queued, "
          f"{outcome['queue'] / len(mentions):.2%} of {len(mentions):,} records; "
          f"{outcome['answered']:,} answered by the oracle; {outcome['left']:,} queued after review")
    groups = record_groups(mentions, root, as_of)
    rows = []
    for label, (persons, families_) in (("before", outcome["before"]), ("after", outcome["after"])):
        _print_groups(f"link stage, {label} review", persons, mentions, groups)
        ids = mentions["mention_id"]
        alone = pd.Series("alone:" + ids.to_numpy(), index=ids.to_numpy())  # no family: its own
        rows += _measure(mentions, persons.reindex(ids), as_of, f"link stage, {label} review",
                         outcome["seconds"], found_families=families_.reindex(ids).fillna(alone))
    return rows


def _row(scores: dict[str, float], seconds: float) -> dict[str, float]:
    return {
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "seconds": round(seconds, 2),
    }


if __name__ == "__main__":
    main()
