"""`familyhub review` (list, export, import, undo), `explain` and `link` through click's CliRunner.

One module fixture ingests each agency's first generated extract and links it (the ingest gate
makes this the slow part); every test works on its own copy of that warehouse.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from pipeline.cli import main
from pipeline.linkage.review_queue import open_queue
from pipeline.warehouse.engine import Warehouse

AS_OF = "2026-08-01"
WHY = ("--reason", "weekly review", "--as", "Ann")  # listing, exporting and explaining show names


def cli(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output + repr(result.exception)
    return result


@pytest.fixture(scope="module")
def template(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB warehouse after ingesting each agency's first extract and `familyhub link`."""
    files = pd.DataFrame(json.loads((generated / "manifest.json").read_text())["files"])
    files = files[files["path"].str.startswith("landing/")]
    root = tmp_path_factory.mktemp("review")
    for path in files[files["extract_date"] == files.groupby("agency")["extract_date"].transform("min")]["path"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(generated / path, root / path)
    url = f"duckdb:///{root / 'template.duckdb'}"
    cli("db", "upgrade", "--warehouse", url)
    cli("ingest", "--landing", str(root / "landing"), "--warehouse", url)
    cli("link", "--as-of", AS_OF, "--warehouse", url)
    return root / "template.duckdb"


@pytest.fixture
def url(template: Path, tmp_path: Path) -> str:
    """A copy of the template warehouse (with its write-ahead log, if not yet checkpointed)."""
    for part in template.parent.glob(template.name + "*"):
        shutil.copy(part, tmp_path / part.name.replace(template.stem, "wh"))
    return f"duckdb:///{tmp_path / 'wh.duckdb'}"


def queue(url: str) -> pd.DataFrame:
    wh = Warehouse.connect(url)
    try:
        return open_queue(wh)
    finally:
        wh.engine.dispose()


def read(url: str, sql: str) -> pd.DataFrame:
    wh = Warehouse.connect(url)
    try:
        return wh.read(sql)
    finally:
        wh.engine.dispose()


def waiting(output: str) -> int:
    return int(re.search(r"(\d+) pair\(s\) waiting for review", output).group(1))


def fill(sheet: Path, answers: list[str]) -> pd.DataFrame:
    """Answer the first rows of an exported sheet, as a reviewer would."""
    frame = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    frame.loc[: len(answers) - 1, "decision"] = answers
    frame.to_csv(sheet, index=False)
    return frame


@pytest.mark.parametrize("command", [["link"], ["explain"], ["review"], ["review", "list"],
                                     ["review", "export"], ["review", "import"], ["review", "undo"]])
def test_every_linkage_command_has_help_with_an_example(command: list[str]) -> None:
    assert "Example:" in cli(*command, "--help").output


@pytest.mark.slow
def test_list_is_blind_and_shows_both_records_side_by_side(url: str) -> None:
    pending = queue(url)
    assert len(pending) > 0
    out = cli("review", "list", *WHY, "--warehouse", url, "--limit", "2").output
    assert waiting(out) == len(pending)
    first = pending.iloc[0]
    assert re.search(rf"{re.escape(first.mention_id_l)}\s+{re.escape(first.mention_id_r)}", out)
    assert re.search(r"^\s+dob\s+\d{4}-\d\d-\d\d", out, re.M)
    assert "weight" not in out and f"{first.match_weight:.2f}" not in out
    scored = cli("review", "list", *WHY, "--warehouse", url, "--limit", "1", "--with-scores").output
    assert f"weight {first.match_weight:.2f}" in scored


@pytest.mark.slow
def test_export_is_blind_and_safe_to_open_in_a_spreadsheet(url: str, tmp_path: Path) -> None:
    first = queue(url).iloc[0]
    wh = Warehouse.connect(url)
    with wh.begin() as conn:
        wh.execute(conn, "update staging.person_mentions set first_name = :f, last_name = :l where mention_id = :m",
                   {"f": '=HYPERLINK("http://x","y")', "l": "@SUM(A1)", "m": first.mention_id_l})
    wh.engine.dispose()
    out = tmp_path / "review.csv"
    assert "wrote" in cli("review", "export", *WHY, str(out), "--warehouse", url).output
    sheet = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert "match_weight" not in sheet.columns
    row = sheet.iloc[0]
    assert row["first_name_l"] == "'=HYPERLINK(\"http://x\",\"y\")" and row["last_name_l"] == "'@SUM(A1)"
    assert (sheet["decision"] == "").all()
    cli("review", "export", *WHY, str(out), "--warehouse", url, "--with-scores")
    assert pd.read_csv(out)["match_weight"].iloc[0] == pytest.approx(first.match_weight, abs=0.01)


@pytest.mark.slow
def test_names_are_shown_or_exported_only_with_a_reason_and_audited_first(url: str, tmp_path: Path) -> None:
    pending = queue(url)
    out = tmp_path / "review.csv"
    for command in (["review", "export", str(out)], ["review", "list"],
                    ["explain", pending.mention_id_l[0], pending.mention_id_r[0]]):
        refused = cli(*command, "--warehouse", url, code=2).output
        assert "Missing option '--reason'" in refused
    assert not out.exists() and read(url, "select * from ops.audit_log").empty

    cli("review", "export", str(out), *WHY, "--warehouse", url)
    cli("review", "list", "--limit", "1", *WHY, "--warehouse", url)
    cli("explain", pending.mention_id_l[0], pending.mention_id_r[0], *WHY, "--warehouse", url)
    log = read(url, "select * from ops.audit_log")
    assert set(log["actor"]) == {"Ann"} and set(log["reason"]) == {"weekly review"}
    people = read(url, "select p.mention_id, p.person_id, f.family_id from linked.mention_person p "
                       "left join linked.person_family f on f.person_id = p.person_id").set_index("mention_id")
    exported = people.loc[pd.concat([pending["mention_id_l"], pending["mention_id_r"]])].drop_duplicates()
    export = log[log["action"] == "export"]
    assert len(export) == len(exported) and set(export["person_id"]) == set(exported["person_id"])
    assert set(export["family_id"]) == set(exported["family_id"])
    assert export["detail"].str.contains(f"{len(pending)} pair").all() and str(out) in export["detail"].iloc[0]
    shown = log[log["action"] == "view_records"]
    first = people.loc[[pending.mention_id_l[0], pending.mention_id_r[0]], "person_id"]
    assert sorted(shown["person_id"]) == sorted([*first.unique()] * 2)  # list --limit 1, then explain
    assert not log["detail"].str.contains(pending.mention_id_l[0], regex=False).any()  # no record keys kept


@pytest.mark.slow
def test_import_names_line_and_field_records_once_and_leaves_the_queue(url: str, tmp_path: Path) -> None:
    before = len(queue(url))
    sheet = tmp_path / "review.csv"
    cli("review", "export", *WHY, str(sheet), "--warehouse", url)
    fill(sheet, ["match", "non-match", "perhaps"])
    refused = cli("review", "import", str(sheet), "--by", "Ann", "--warehouse", url, code=1).output
    assert "line 4, field 'decision': 'perhaps' is not one of" in refused
    assert read(url, "select count(*) as n from linked.review_decisions")["n"][0] == 0  # all or nothing

    fill(sheet, ["match", "non-match", "unsure"])
    assert "recorded 3 decision(s); 0 already" in cli("review", "import", str(sheet), "--by", "Ann",
                                                       "--warehouse", url).output
    assert "recorded 0 decision(s); 3 already" in cli("review", "import", str(sheet), "--by", "Ann",
                                                       "--warehouse", url).output
    log = read(url, "select * from linked.review_decisions")
    assert sorted(log["decision"]) == ["match", "non-match", "unsure"] and set(log["decided_by"]) == {"Ann"}
    assert waiting(cli("review", "list", *WHY, "--warehouse", url).output) == before - 3
    assert waiting(cli("review", "list", *WHY, "--warehouse", url, "--unsure").output) == before - 2


@pytest.mark.slow
def test_import_takes_the_formula_guard_off_record_keys(url: str, tmp_path: Path) -> None:
    wh = Warehouse.connect(url)
    with wh.begin() as conn:  # a record whose key a spreadsheet would read as a formula
        wh.execute(conn, "insert into staging.person_mentions select * replace ('dwp|=CL1' as mention_id, "
                         "'=CL1' as record_key) from staging.person_mentions where agency = 'dwp' limit 1")
    other = wh.read("select mention_id from staging.person_mentions where agency = 'health' limit 1")
    wh.engine.dispose()
    agency, key = other["mention_id"][0].split("|", 1)
    sheet = tmp_path / "d.csv"
    sheet.write_text(f"agency_l,record_key_l,agency_r,record_key_r,decision\ndwp,'=CL1,{agency},{key},non-match\n")
    cli("review", "import", str(sheet), "--by", "Ann", "--warehouse", url)
    assert read(url, "select record_key_l from linked.review_decisions")["record_key_l"].tolist() == ["=CL1"]


@pytest.mark.slow
def test_undo_puts_a_pair_back_and_needs_a_standing_decision(url: str, tmp_path: Path) -> None:
    before = len(queue(url))
    sheet = tmp_path / "review.csv"
    cli("review", "export", *WHY, str(sheet), "--warehouse", url)
    a, b = (fill(sheet, ["non-match"]).iloc[0][[f"agency_{s}", f"record_key_{s}"]].str.cat(sep="|")
            for s in "lr")
    cli("review", "import", str(sheet), "--by", "Ann", "--warehouse", url)
    assert len(queue(url)) == before - 1
    cli("review", "undo", a, b, "--by", "Bob", "--warehouse", url)
    assert len(queue(url)) == before
    refused = cli("review", "undo", a, b, "--by", "Bob", "--warehouse", url, code=1).output
    assert "no standing decision" in refused
    cli("review", "undo", "no-bar-here", b, "--by", "Bob", "--warehouse", url, code=2)


@pytest.mark.slow
def test_a_match_binds_the_next_link_and_explain_shows_the_waterfall(url: str, tmp_path: Path) -> None:
    people = read(url, "select mention_id, person_id from linked.mention_person").set_index("mention_id")["person_id"]
    pending = queue(url)
    pair = pending[pending["mention_id_l"].map(people) != pending["mention_id_r"].map(people)].iloc[0]
    a, b = pair.mention_id_l, pair.mention_id_r
    sheet = tmp_path / "d.csv"
    pd.DataFrame([{"agency_l": a.split("|", 1)[0], "record_key_l": a.split("|", 1)[1],
                   "agency_r": b.split("|", 1)[0], "record_key_r": b.split("|", 1)[1],
                   "decision": "match"}]).to_csv(sheet, index=False)
    cli("review", "import", str(sheet), "--by", "Ann", "--warehouse", url)
    cli("link", "--as-of", AS_OF, "--warehouse", url)

    out = cli("explain", *WHY, a, b, "--warehouse", url).output
    assert f"review, match weight {pair.match_weight:.2f}" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()}
    assert {"prior", "first_name", "last_name", "dob", "postcode", "nhs_number", "total"} <= set(rows)
    assert f"{pair.match_weight:+.2f}" in rows["total"] and "p=" in rows["total"]
    assert "same person" in out and "review decision: match by Ann" in out
    data = json.loads(cli("explain", *WHY, a, b, "--warehouse", url, "--json").output)
    steps = pd.DataFrame(data["waterfall"])
    assert steps["weight"].iloc[:-1].sum() == pytest.approx(pair.match_weight)
    assert data["persons"][0] == data["persons"][1]


@pytest.mark.slow
def test_explain_scores_a_pair_never_scored_and_refuses_unknown_records(url: str) -> None:
    scored = read(url, "select mention_id_l, mention_id_r from linked.record_links")
    mentions = read(url, "select mention_id, last_name from staging.person_mentions order by mention_id")
    a = mentions.iloc[0]
    b = mentions[mentions["last_name"] != a["last_name"]].iloc[0]
    assert not ((scored["mention_id_l"] == min(a.mention_id, b.mention_id))
                & (scored["mention_id_r"] == max(a.mention_id, b.mention_id))).any()
    out = cli("explain", *WHY, a.mention_id, b.mention_id, "--warehouse", url).output
    assert "never scored" in out and "different persons" in out
    assert re.search(r"^\s+last_name\s+else\s", out, re.M) and re.search(r"^\s+total\s+p=", out, re.M)
    unknown = cli("explain", *WHY, a.mention_id, "police|NO/SUCH|N0", "--warehouse", url, code=1).output
    assert "no loaded record police|NO/SUCH|N0" in unknown
    cli("explain", *WHY, a.mention_id, "police", "--warehouse", url, code=2)


@pytest.mark.slow
@pytest.mark.postgres
def test_review_round_trip_and_explain_on_postgres(template: Path, pg_url: str, tmp_path: Path) -> None:
    source = Warehouse.connect(f"duckdb:///{template}")
    mentions = source.read("select * from staging.person_mentions")
    source.engine.dispose()
    pg = Warehouse.connect(pg_url)
    pg.migrate()
    with pg.begin() as conn:
        pg.insert(conn, "staging.person_mentions", mentions)
    pg.engine.dispose()
    cli("link", "--as-of", AS_OF, "--warehouse", pg_url)
    before = waiting(cli("review", "list", *WHY, "--warehouse", pg_url).output)
    sheet = tmp_path / "review.csv"
    cli("review", "export", *WHY, str(sheet), "--warehouse", pg_url)
    first = fill(sheet, ["non-match", "match"]).iloc[0]
    cli("review", "import", str(sheet), "--by", "Ann", "--warehouse", pg_url)
    assert "recorded 0" in cli("review", "import", str(sheet), "--by", "Ann", "--warehouse", pg_url).output
    assert waiting(cli("review", "list", *WHY, "--warehouse", pg_url).output) == before - 2
    cli("link", "--as-of", AS_OF, "--warehouse", pg_url)
    a, b = (f"{first[f'agency_{s}']}|{first[f'record_key_{s}']}" for s in "lr")
    out = cli("explain", *WHY, a, b, "--warehouse", pg_url).output
    assert "different persons" in out and "review decision: non-match by Ann" in out
