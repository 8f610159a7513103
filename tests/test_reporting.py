"""The reporting contract (shared/spec/reporting.md) after `familyhub run` on generated data, on
DuckDB and PostgreSQL: the six views with exactly their documented columns and sensible content,
a second `run` changing nothing, evidence for every criterion of every eligible family, and the
`family` and `compare` commands.

The pipeline runs once per backend and module (two `run`s, about 40 s), so every test here reads
that one warehouse; each backend is an xdist group, so the run is not repeated on another worker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.warehouse.engine import Warehouse

pytestmark = pytest.mark.slow

AS_OF = date(2026, 11, 1)  # the generator's default as-of date
PROGRAMMES = ("tf2015", "tf2012")  # the first is the active one

#: Columns of each view as reporting.md documents them, and the extra ones it allows.
CONTRACT: dict[str, tuple[list[str], set[str]]] = {
    "record_link": (["agency", "record_key", "person_id", "family_id", "match_weight"], set()),
    "family_member": (["family_id", "person_id", "role", "first_name", "last_name", "date_of_birth", "sex",
                       "agencies"], set()),
    "family_view": (["family_id", "address_line", "postcode", "n_members", "n_children", "agencies", "criteria",
                     "n_criteria", "eligible", "basis", "estimated_annual_cost", "priority_rank", "status",
                     "key_worker"], set()),
    "cohort": (["family_id", "programme", "as_of", "criteria", "n_criteria", "eligible", "basis",
                "priority_rank", "estimated_annual_cost"], set()),
    "family_evidence": (["family_id", "programme", "as_of", "criterion", "person_id", "agency", "record_key",
                         "event_date", "detail"], set()),
    "family_timeline": (["agency", "record_key", "person_id", "event_type", "event_date", "detail"],
                        {"family_id"}),
}

#: record_key: the event key values of extracts.md joined by `|`, in the declared order.
KEY_FORMATS = {
    "police": r"OC/\d{4}/\d{6}\|N\d+",  # (OccurrenceRef, NominalId)
    "schools": r"[A-Z]\d{12}\|\d{4}-(AUT|SPR|SUM)",  # (UPN, Term)
    "housing": r"[^|]+\|[^|]+",  # (TenancyRef, PersonRef)
    "yot": r"[^|]+",  # OutcomeRef
    "health": r"[^|]+",  # EventRef
    "socialcare": r"[^|]+",  # EpisodeRef
    "dwp": r"[^|]+",  # ClaimRef
}


@dataclass(frozen=True)
class Ran:
    url: str
    views: dict[str, pd.DataFrame]  # every view after the first run
    rerun_views: dict[str, pd.DataFrame]  # and after running again on the same landing folder
    rerun_output: str


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def read_views(url: str) -> dict[str, pd.DataFrame]:
    wh = Warehouse.connect(url)
    try:
        return {view: wh.read(f"select * from reporting.{view}") for view in CONTRACT}
    finally:
        wh.engine.dispose()


@pytest.fixture(scope="module", params=[
    pytest.param("duckdb", marks=pytest.mark.xdist_group("reporting-duckdb")),
    pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.xdist_group("reporting-postgres")]),
])
def ran(request: pytest.FixtureRequest, generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """`familyhub run` twice on the shared generated landing folder, views read after each."""
    folder = tmp_path_factory.mktemp(f"reporting-{request.param}")
    url = (f"duckdb:///{folder / 'wh.duckdb'}" if request.param == "duckdb"
           else request.getfixturevalue("pg_module_url"))
    args = ["run", "--landing", str(generated / "landing"), "--quarantine", str(folder / "quarantine"),
            "--warehouse", url, "--as-of", AS_OF.isoformat()]
    for programme in PROGRAMMES:
        args += ["--programme", programme]
    cli("db", "upgrade", "--warehouse", url)
    cli(*args)
    first = read_views(url)
    output = cli(*args)
    return Ran(url, first, read_views(url), output)


def loaded_records(generated: Path) -> pd.DataFrame:
    """(agency, record_key) of every record the landing folder delivers in a good row."""
    truth = pd.read_csv(generated / "truth.csv", dtype=str, keep_default_na=False)
    return truth.loc[truth["bad_row_reason"] == "", ["agency", "record_key"]].drop_duplicates()


def codes(text: object) -> list[str]:
    return str(text).split(",") if isinstance(text, str) and text else []


def eligible_criteria(views: dict[str, pd.DataFrame], programme: str) -> set[tuple[str, str]]:
    cohort = views["cohort"]
    rows = cohort[(cohort["programme"] == programme) & cohort["eligible"].astype(bool)]
    return {(f, c) for f, text in zip(rows["family_id"], rows["criteria"], strict=True) for c in codes(text)}


def test_every_view_has_exactly_the_documented_columns(ran: Ran) -> None:
    for view, (documented, extra) in CONTRACT.items():
        columns = list(ran.views[view].columns)
        assert len(columns) == len(set(columns)), view
        assert set(documented) <= set(columns), (view, set(documented) - set(columns))
        assert set(columns) - set(documented) <= extra, (view, set(columns) - set(documented) - extra)
        assert len(ran.views[view]), f"reporting.{view} is empty"


def test_record_link_has_one_row_per_loaded_record_with_its_key(ran: Ran, generated: Path) -> None:
    links = ran.views["record_link"]
    assert not links.duplicated(["agency", "record_key"]).any()
    expected = loaded_records(generated)
    got = links[["agency", "record_key"]]
    assert len(got) == len(expected)
    assert set(map(tuple, got.to_numpy())) == set(map(tuple, expected.to_numpy()))
    assert set(links["agency"]) == set(KEY_FORMATS)
    for agency, pattern in KEY_FORMATS.items():
        keys = links.loc[links["agency"] == agency, "record_key"]
        bad = keys[~keys.str.fullmatch(pattern)]
        assert bad.empty, (agency, bad.head().tolist())
    assert links["person_id"].notna().all() and links["family_id"].notna().all()
    weights = pd.to_numeric(links["match_weight"])  # numeric, null for deterministic links
    assert weights.notna().any()


def test_family_member_roles_and_one_family_per_person(ran: Ran) -> None:
    members, links = ran.views["family_member"], ran.views["record_link"]
    assert not members["person_id"].duplicated().any()
    assert set(members["role"]) == {"adult", "child"}
    dob = pd.to_datetime(members["date_of_birth"])
    is_child = dob > pd.Timestamp(AS_OF) - pd.DateOffset(years=18)
    assert (members["role"] == "child").equals(is_child), "role is child exactly when under 18 on the as-of date"
    # every linked person is a member, of the family record_link gives them
    assert set(members["person_id"]) == set(links["person_id"])
    family = members.set_index("person_id")["family_id"]
    assert links["family_id"].equals(links["person_id"].map(family))
    # agencies: the sorted agencies of the person's records
    known = links.groupby("person_id")["agency"].agg(lambda a: ",".join(sorted(set(a))))
    assert members.set_index("person_id")["agencies"].sort_index().equals(known.sort_index())


def test_family_view_one_row_per_family_with_members(ran: Ran) -> None:
    view, members = ran.views["family_view"], ran.views["family_member"]
    assert not view["family_id"].duplicated().any()
    assert set(view["family_id"]) == set(members["family_id"]), "every family has at least one member"
    counts = members.groupby("family_id").agg(n=("person_id", "size"),
                                              children=("role", lambda r: int((r == "child").sum())))
    by_family = view.set_index("family_id")
    assert (by_family["n_members"] >= 1).all()
    assert by_family["n_members"].astype(int).equals(counts["n"].reindex(by_family.index))
    assert by_family["n_children"].astype(int).equals(counts["children"].reindex(by_family.index))
    for text, n in zip(view["criteria"], view["n_criteria"], strict=True):
        assert codes(text) == sorted(codes(text)) and len(codes(text)) == n
    eligible = view[view["eligible"].astype(bool)]
    assert len(eligible), "the generated set has eligible families under the active programme"
    assert sorted(eligible["priority_rank"].astype(int)) == list(range(1, len(eligible) + 1))
    assert view.loc[~view["eligible"].astype(bool), "priority_rank"].isna().all()
    # nobody is attached yet: a family in the cohort is identified, the others have no status
    assert view["status"].eq("identified").equals(view["basis"].notna())
    assert view.loc[view["basis"].isna(), "status"].isna().all()
    assert view["postcode"].notna().mean() > 0.9


def test_cohort_keeps_each_programme_and_the_view_shows_the_active_one(ran: Ran) -> None:
    cohort, view = ran.views["cohort"], ran.views["family_view"]
    assert set(cohort["programme"]) == set(PROGRAMMES)
    assert set(pd.to_datetime(cohort["as_of"])) == {pd.Timestamp(AS_OF)}
    for programme in PROGRAMMES:
        rows = cohort[cohort["programme"] == programme]
        assert not rows["family_id"].duplicated().any()
        assert set(rows["family_id"]) == set(view["family_id"]), programme
    active = cohort[cohort["programme"] == PROGRAMMES[0]].set_index("family_id").sort_index()
    shown = view.set_index("family_id").sort_index()
    for column in ("criteria", "n_criteria", "eligible", "basis", "priority_rank"):
        assert active[column].astype(str).equals(shown[column].astype(str)), column
    assert (pd.to_numeric(active["estimated_annual_cost"]) >= 0).all()
    assert (pd.to_numeric(active.loc[active["eligible"].astype(bool), "estimated_annual_cost"]) > 0).all()


@pytest.mark.parametrize("programme", PROGRAMMES)
def test_evidence_for_every_criterion_of_every_eligible_family(ran: Ran, programme: str) -> None:
    evidence = ran.views["family_evidence"]
    evidence = evidence[evidence["programme"] == programme]
    met = eligible_criteria(ran.views, programme)
    if programme == PROGRAMMES[0]:
        assert met, "the generated set has eligible families"
    backed = set(zip(evidence["family_id"], evidence["criterion"], strict=True))
    assert met <= backed, sorted(met - backed)[:5]
    # each supporting event is a loaded record of a member of that family
    links = ran.views["record_link"].set_index(["agency", "record_key"])
    source = links.reindex(pd.MultiIndex.from_frame(evidence[["agency", "record_key"]]))
    assert source["person_id"].notna().all()
    assert (source["person_id"].to_numpy() == evidence["person_id"].to_numpy()).all()
    assert (source["family_id"].to_numpy() == evidence["family_id"].to_numpy()).all()
    assert evidence["detail"].str.len().gt(0).all()


def test_timeline_has_every_event_of_every_member(ran: Ran) -> None:
    timeline, links = ran.views["family_timeline"], ran.views["record_link"]
    key = ["agency", "record_key"]
    assert not timeline.duplicated(key).any()
    both = timeline.merge(links, on=key, how="outer", suffixes=("", "_link"), indicator=True)
    assert (both["_merge"] == "both").all(), "one timeline row per loaded record"
    assert both["person_id"].equals(both["person_id_link"]) and both["family_id"].equals(both["family_id_link"])
    assert timeline["event_type"].notna().all()
    assert timeline["event_date"].notna().mean() > 0.99


def test_run_twice_gives_identical_reporting_views(ran: Ran) -> None:
    assert "0 loaded" in ran.rerun_output and "(unchanged)" in ran.rerun_output, ran.rerun_output
    for view in CONTRACT:
        first, second = (frame.astype(str).sort_values(list(frame.columns), ignore_index=True)
                         for frame in (ran.views[view], ran.rerun_views[view]))
        pd.testing.assert_frame_equal(first, second, obj=f"reporting.{view}")


def test_family_command_prints_members_criteria_evidence_and_timeline(ran: Ran) -> None:
    view = ran.views["family_view"]
    top = view.loc[view["priority_rank"].astype(float) == 1].iloc[0]
    family_id = top["family_id"]
    members, evidence, timeline = (ran.views[v].loc[lambda f: f["family_id"] == family_id]
                                   for v in ("family_member", "family_evidence", "family_timeline"))
    evidence = evidence[evidence["programme"] == PROGRAMMES[0]]

    text = cli("family", family_id, "--reason", "test", "--warehouse", ran.url)
    assert f"Family {family_id}" in text and "priority: 1" in text
    assert all(p in text for p in members["person_id"])
    assert f"Criteria: {top['criteria']}" in text
    assert all(d in text for d in evidence["detail"])
    assert all(e in text for e in timeline["event_type"])

    out = json.loads(cli("family", family_id, "--json", "--reason", "test", "--warehouse", ran.url))
    assert out["family"]["criteria"] == top["criteria"]
    assert {m["person_id"] for m in out["members"]} == set(members["person_id"])
    assert {(e["criterion"], e["record_key"]) for e in out["evidence"]} == set(
        zip(evidence["criterion"], evidence["record_key"], strict=True))
    assert sorted(t["record_key"] for t in out["timeline"]) == sorted(timeline["record_key"])
    assert pd.to_datetime(pd.Series([t["event_date"] for t in out["timeline"]])).dropna().is_monotonic_increasing

    missing = CliRunner().invoke(main, ["family", "F-no-such-family", "--reason", "test", "--warehouse", ran.url])
    assert missing.exit_code != 0 and "no family F-no-such-family" in missing.output


def test_compare_command_shows_who_each_programme_admits(ran: Ran, tmp_path: Path) -> None:
    csv = tmp_path / "compare.csv"
    text = cli("compare", "--programme", "tf2015", "--programme", "tf2012", "--as-of", AS_OF.isoformat(),
               "--warehouse", ran.url, "--csv", str(csv), "--reason", "programme comparison")
    cohort = ran.views["cohort"]
    admitted = {p: set(cohort.loc[(cohort["programme"] == p) & cohort["basis"].notna(), "family_id"])
                for p in PROGRAMMES}
    expected = {"both": admitted["tf2015"] & admitted["tf2012"],
                "tf2015": admitted["tf2015"] - admitted["tf2012"],
                "tf2012": admitted["tf2012"] - admitted["tf2015"]}
    assert "tf2015 vs tf2012" in text
    for who, families in expected.items():
        if families:
            assert f"admitted by {who}: {len(families)}" in text
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert {who: set(rows["family_id"]) for who, rows in table.groupby("admitted_by")} == {
        who: families for who, families in expected.items() if families}
    only_2015 = table[table["admitted_by"] == "tf2015"]
    assert only_2015["why"].str.startswith("tf2012 does not admit").all()
    for row in only_2015.head(20).itertuples():
        assert f"{row.family_id}: {row.why}" in text
