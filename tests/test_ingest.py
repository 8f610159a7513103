"""Ingest: refusal rules with real bad files, held rows, idempotency, corrections, reprocess."""

from __future__ import annotations

import csv
import json
import os
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from pipeline.ingest.agencies import get_agency
from pipeline.ingest.load import ingest_file, ingest_landing, reprocess
from pipeline.ingest.quality import RefusedFile, check_chunk
from pipeline.ingest.status import agency_status
from pipeline.warehouse.engine import Warehouse

POLICE_HEADER = ("OccurrenceRef,NominalId,FullName,DOB,Sex,Address,Postcode,OccurrenceDateTime,Category,Role,"
                 "OffenceCode,DomesticAbuse")


def police_row(i: int, category: str = "CRIME", dob: str = "01/02/1980", surname: str = "SMITH") -> str:
    return (f'OC/2026/{i:06d},N{i},"{surname}, John",{dob},M,"{i} High St",SW1A 1AA,01/08/2026 13:45,'
            f"{category},SUSPECT,105/01,N")


def write(landing: Path, agency: str, name: str, text: str | bytes, encoding: str = "utf-8") -> Path:
    folder = landing / agency
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


def police_file(landing: Path, name: str, rows: list[str]) -> Path:
    return write(landing, "police", name, "\n".join([POLICE_HEADER, *rows]) + "\n")


def counts(wh: Warehouse) -> dict[str, int]:
    return wh.table_counts()


def load(wh: Warehouse, path: Path, tmp_path: Path, agency: str = "police"):
    return ingest_file(wh, path, get_agency(agency), tmp_path / "quarantine")


def assert_refused(wh: Warehouse, outcome, words: str, tmp_path: Path) -> None:
    assert outcome.status == "refused", outcome
    assert words in outcome.reason
    report = Path(outcome.report_path)
    assert report.exists() and words in report.read_text()
    assert "Nothing was loaded" in report.read_text()
    quarantined = report.with_name(report.name.removesuffix(".report.md"))
    assert quarantined.exists()
    assert counts(wh)["raw.police"] == 0 and counts(wh)["staging.person_mentions"] == 0
    facts = json.loads(report.with_name(quarantined.name + ".report.json").read_text())
    assert facts["reason"] == outcome.reason


def test_good_file_loads_rows_and_holds_bad_ones(warehouse: Warehouse, tmp_path: Path) -> None:
    rows = [police_row(i) for i in range(1, 20)] + [police_row(20, category="WEIRD"),
                                                   police_row(21, dob="31/02/1980")]
    out = load(warehouse, police_file(tmp_path / "landing", "police_20260901.csv", rows), tmp_path)
    assert (out.status, out.rows_sent, out.rows_loaded, out.rows_held) == ("loaded", 21, 19, 2)
    held = warehouse.read("select row_number, reasons from ops.held_rows order by row_number")
    assert held.row_number.tolist() == [20, 21]
    assert "Category: unknown code ('WEIRD')" in held.reasons[0]
    assert "DOB: not a real date ('31/02/1980')" in held.reasons[1]
    assert counts(warehouse)["raw.police"] == 21  # raw keeps every row as received
    assert counts(warehouse)["staging.events"] == 19


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("police_2026-09-01.csv", POLICE_HEADER + "\n" + police_row(1) + "\n", "does not fit the schedule"),
        ("police_20260901.csv", b"", "empty"),
        ("police_20260901.csv", POLICE_HEADER + "\n", "no data rows"),
        ("police_20260901.csv", (POLICE_HEADER + "\n").encode() + b"OC/1,N1,\"SMITH, J\xff\xfe\",,,,,,,,,\n",
         "cannot be decoded"),
        ("police_20260901.csv", POLICE_HEADER.replace(",Role", "") + "\n" + police_row(1).replace(",SUSPECT", "") + "\n",
         "required column(s) missing: Role"),
        ("police_20260901.csv", POLICE_HEADER + "\n" + "\n".join(
            [police_row(i) for i in range(1, 9)] + [police_row(i, category="X") for i in range(9, 11)]) + "\n",
         "break row rules"),
        ("police_20260901.csv", POLICE_HEADER + "\n" + police_row(1) + ',"extra","fields"\n', "cannot be parsed"),
    ],
    ids=["wrong-name", "empty", "header-only", "undecodable", "missing-column", "too-many-bad-rows", "unparseable"],
)
def test_refusal_rules(warehouse: Warehouse, tmp_path: Path, name: str, content: str | bytes, words: str) -> None:
    path = write(tmp_path / "landing", "police", name, content)
    outcome = load(warehouse, path, tmp_path)
    assert_refused(warehouse, outcome, words, tmp_path)
    assert path.exists(), "the landing file is never deleted"
    ledger = warehouse.read("select status, reason from ops.files")
    assert ledger.status.tolist() == ["refused"]


def test_a_column_named_twice_reaching_the_gate_is_refused_by_name() -> None:
    """A workbook keeps a repeated header name (a CSV's second copy is renamed Role.1 and ignored):
    which of the two is the field is for the sender to say, so the gate refuses the file."""
    header = [*next(csv.reader([POLICE_HEADER])), "Role"]
    row = [*next(csv.reader([police_row(1)])), "VICTIM"]
    with pytest.raises(RefusedFile, match=r"column\(s\) named twice in the header: Role"):
        check_chunk(get_agency("police"), pd.DataFrame([row], columns=header), date(2026, 9, 1))


def test_the_gate_keeps_no_validation_result_in_the_gx_context() -> None:
    """Each chunk's GX result goes to the file's outcome and Data Docs page only: kept in the
    process's GX context too, a long-running process would hold every file's result."""
    from pipeline.ingest.quality import _context

    store = _context().validation_results_store
    before = len(store.list_keys())
    row = next(csv.reader([police_row(1, dob="31/02/1980")]))
    gate = check_chunk(get_agency("police"), pd.DataFrame([row], columns=POLICE_HEADER.split(",")), date(2026, 9, 1))
    assert gate.validation.meta["run_id"].run_time is not None and gate.reasons.tolist() == [
        "DOB: not a real date ('31/02/1980')"]
    assert len(store.list_keys()) == before


def test_refusal_removes_what_an_interrupted_refusal_of_the_file_left(warehouse: Warehouse, tmp_path: Path) -> None:
    """A refusal killed before it committed leaves a copy and reports under a ledger id that was
    rolled back; the next refusal of the file removes them, and keeps what ledger rows own."""
    folder = tmp_path / "quarantine" / "police"
    folder.mkdir(parents=True)
    left = [folder / f"999__police_2026.csv{suffix}" for suffix in ("", ".report.md", ".report.json")]
    other = folder / "998__police_20260901.csv"  # another file's leftover: not this refusal's to judge
    for f in [*left, other]:
        f.write_text("left by a killed refusal")
    outcome = load(warehouse, write(tmp_path / "landing", "police", "police_2026.csv", "x\n"), tmp_path)
    assert_refused(warehouse, outcome, "name", tmp_path)
    assert not any(f.exists() for f in left)
    assert other.exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [other.name, *(f"{outcome.file_id}__police_2026.csv{s}" for s in ("", ".report.md", ".report.json"))])


def housing_workbook(path: Path, rows: int = 3) -> Path:
    agency = get_agency("housing")
    wb = Workbook()
    ws = wb.active
    ws.title = "Extract"
    ws.append(agency.column_names)
    for i in range(rows):
        ws.append([f"T{i}", 100000 + i, f"{i} Oak Road", "", "Town", "B33 8TH", f"P{i}", "Mr", "Sam", "Jones",
                   datetime(1985, 3, 4), "LEAD_TENANT", datetime(2020, 1, 1), None, 120.5, None, "N"])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def test_xlsx_loads_with_date_cells(warehouse: Warehouse, tmp_path: Path) -> None:
    path = housing_workbook(tmp_path / "landing" / "housing" / "housing_20260901.xlsx")
    outcome = load(warehouse, path, tmp_path, "housing")
    assert (outcome.status, outcome.rows_loaded) == ("loaded", 3)
    mention = warehouse.read("select dob, uprn, group_kind, tenancy_current from staging.person_mentions "
                             "order by record_key").iloc[0]
    assert str(mention.dob)[:10] == "1985-03-04" and mention.uprn == "100000"
    assert mention.group_kind == "tenancy" and bool(mention.tenancy_current)


def test_truncated_xlsx_is_refused(warehouse: Warehouse, tmp_path: Path) -> None:
    good = housing_workbook(tmp_path / "good.xlsx", rows=50)
    data = good.read_bytes()
    path = write(tmp_path / "landing", "housing", "housing_20260901.xlsx", data[: len(data) // 2])
    outcome = load(warehouse, path, tmp_path, "housing")
    assert outcome.status == "refused" and "xlsx" in outcome.reason
    assert Path(outcome.report_path).exists()
    assert counts(warehouse)["raw.housing"] == 0


def test_ingesting_twice_changes_nothing(warehouse: Warehouse, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    police_file(landing, "police_20260901.csv", [police_row(i) for i in range(1, 6)])
    write(landing, "police", "police_bad.csv", "nonsense")
    ingest_landing(warehouse, landing, tmp_path / "quarantine")
    before = counts(warehouse)
    snapshot = warehouse.read("select * from staging.person_mentions order by mention_id")
    second = ingest_landing(warehouse, landing, tmp_path / "quarantine")
    assert {o.status for o in second} == {"duplicate"}
    assert counts(warehouse) == before
    assert warehouse.read("select * from staging.person_mentions order by mention_id").equals(snapshot)


def test_misnamed_file_sent_again_correctly_named_loads(warehouse: Warehouse, tmp_path: Path) -> None:
    rows = [police_row(i) for i in range(1, 4)]
    misnamed = load(warehouse, police_file(tmp_path / "first", "police_2026-09-01.csv", rows), tmp_path)
    assert misnamed.status == "refused" and "does not fit" in misnamed.reason
    renamed = load(warehouse, police_file(tmp_path / "second", "police_20260901.csv", rows), tmp_path)
    assert (renamed.status, renamed.rows_loaded) == ("loaded", 3)
    again = load(warehouse, police_file(tmp_path / "third", "police_2026-09-01.csv", rows), tmp_path)
    assert again.status == "duplicate"  # the same refused bytes under the same name change nothing
    assert counts(warehouse)["raw.police"] == 3


def test_correction_replaces_by_event_key(warehouse: Warehouse, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    police_file(landing, "police_20260901.csv", [police_row(1), police_row(2)])
    police_file(landing, "police_20261001.csv", [police_row(2, category="ASB")])
    ingest_landing(warehouse, landing, tmp_path / "quarantine")
    events = warehouse.read("select record_key, event_type, file_id from staging.events order by record_key")
    assert events.event_type.tolist() == ["CRIME", "ASB"]
    assert counts(warehouse)["raw.police"] == 3  # both versions are kept as received
    # an older file arriving late never overwrites the newer version
    police_file(landing, "police_20260815.csv", [police_row(2, category="DOMESTIC_INCIDENT")])
    ingest_landing(warehouse, landing, tmp_path / "quarantine")
    assert warehouse.scalar("select event_type from staging.events where record_key = 'OC/2026/000002|N2'") == "ASB"


def test_reprocess_after_fix(warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    rows = [police_row(i) for i in range(1, 9)] + [police_row(9, dob="31/02/1990"), police_row(10, dob="99/99/1990")]
    police_file(landing, "police_20260901.csv", rows)  # 20% bad: refused under the default 10%
    police_file(landing, "police_20261001.csv", [police_row(i) for i in range(11, 30)] + [police_row(30, "WEIRD")])
    first = ingest_landing(warehouse, landing, quarantine)
    assert [o.status for o in first] == ["refused", "loaded"]
    # the fix: a bigger allowed share for the refused file, then a corrected quarantine copy
    result = reprocess(warehouse, quarantine, share=0.25)
    assert [f.status for f in result["files"]] == ["loaded"]
    assert warehouse.scalar("select rows_loaded from ops.files where file_name = 'police_20260901.csv'") == 8
    # held rows are released once the suite accepts them (here: the code list gains WEIRD)
    from pipeline.ingest import quality

    suite = quality.load_suite_dict("police")
    for e in suite["expectations"]:
        if e["kwargs"].get("column") == "Category" and "value_set" in e["kwargs"]:
            e["kwargs"]["value_set"].append("WEIRD")
    monkeypatch.setattr(quality, "load_suite_dict", lambda name: suite)
    quality._validation.cache_clear()
    released = reprocess(warehouse, quarantine)["rows"]
    quality._validation.cache_clear()
    second = warehouse.scalar("select file_id from ops.files where file_name = 'police_20261001.csv'")
    assert {"agency": "police", "file_id": second, "released": 1, "still_held": 0} in released
    status = agency_status(warehouse)["police"]
    assert status["rows_sent"] == 30 and status["rows_loaded"] == 28 and status["rows_held"] == 2
    assert status["balanced"]


def test_status_balances_on_generated_data(generated: Path, tmp_path: Path) -> None:
    wh = Warehouse.connect(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    wh.migrate()
    ingest_landing(wh, generated / "landing", tmp_path / "quarantine")
    for agency, s in agency_status(wh).items():
        assert s["rows_sent"] > 0, agency
        assert s["rows_loaded"] + s["rows_held"] + s["rows_in_refused_files"] == s["rows_sent"], (agency, s)


def test_extract_date_from_name(warehouse: Warehouse, tmp_path: Path) -> None:
    police_file(tmp_path / "landing", "police_20261001_2.csv", [police_row(1)])
    ingest_landing(warehouse, tmp_path / "landing", tmp_path / "quarantine")
    row = warehouse.read("select extract_date, sequence from ops.files").iloc[0]
    assert str(row.extract_date)[:10] == str(date(2026, 10, 1)) and row.sequence == 2


@pytest.mark.postgres
def test_parallel_postgres_ingest_equals_embedded(generated: Path, tmp_path: Path, pg_url: str) -> None:
    """Agencies loaded side by side by worker processes give the same rows as one process, and a
    mention id stays unique (the staging tables rely on the loader for that on DuckDB)."""
    tables = ["staging.person_mentions", "staging.events"]
    columns = {t: "mention_id, record_key, version" for t in tables}
    seen = []
    for url in (f"duckdb:///{tmp_path / 'wh.duckdb'}", pg_url):
        wh = Warehouse.connect(url)
        wh.migrate()
        outcomes = ingest_landing(wh, generated / "landing", tmp_path / f"q{len(seen)}")
        for t in tables:
            assert wh.scalar(f"select count(*) - count(distinct mention_id) from {t}") == 0
        seen.append({t: wh.read(f"select {columns[t]} from {t} order by mention_id") for t in tables}
                    | {"status": [(o.file_name, o.status, o.rows_loaded, o.rows_held) for o in outcomes]})
        wh.engine.dispose()
    for key in seen[0]:
        if key == "status":  # same outcomes, in the same order (agency by agency, oldest first)
            assert seen[0][key] == seen[1][key]
        else:
            pd.testing.assert_frame_equal(seen[0][key], seen[1][key], check_dtype=False)


def test_a_file_unchanged_since_the_ledger_saw_it_is_not_hashed_again(warehouse: Warehouse, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Same name, size and modification time: recognised unread, by ingest and by one file; a
    touched file is hashed again and recognised by its bytes."""
    from pipeline.ingest import load as load_module

    landing = tmp_path / "landing"
    good = police_file(landing, "police_20260901.csv", [police_row(i) for i in range(1, 4)])
    bad = write(landing, "police", "police_2026-09-02.csv", "nonsense")
    assert [o.status for o in ingest_landing(warehouse, landing, tmp_path / "quarantine")] == ["refused", "loaded"]
    hashed: list[str] = []
    real = load_module.sha256_of
    monkeypatch.setattr(load_module, "sha256_of", lambda p: hashed.append(p.name) or real(p))
    again = ingest_landing(warehouse, landing, tmp_path / "quarantine")
    assert [(o.status, "unchanged" in o.reason) for o in again] == [("duplicate", True)] * 2
    assert load(warehouse, good, tmp_path).status == "duplicate" and hashed == []
    os.utime(good, ns=(good.stat().st_atime_ns, good.stat().st_mtime_ns + 10**9))  # touched, same bytes
    (refused, touched) = ingest_landing(warehouse, landing, tmp_path / "quarantine")
    assert hashed == [good.name] and "same bytes" in touched.reason and "unchanged" in refused.reason
    assert bad.exists() and counts(warehouse)["raw.police"] == 3


def test_archive_moves_processed_files_out_of_the_landing_folder(warehouse: Warehouse, tmp_path: Path) -> None:
    """`familyhub ingest --archive`: loaded, refused and re-sent files go to processed/YYYY/ and are
    never listed again; a re-send of an archived name keeps both copies."""
    from click.testing import CliRunner

    from pipeline.cli import main
    from pipeline.ingest.load import find_files

    landing = tmp_path / "landing"
    rows = [police_row(i) for i in range(1, 4)]
    police_file(landing, "police_20260901.csv", rows)
    police_file(landing, "police_20250301.csv", [police_row(9)])
    write(landing, "police", "police_2026-09-02.csv", "nonsense")
    args = ["ingest", "--landing", str(landing), "--warehouse", warehouse.url, "--json", "--archive"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert sorted(o["status"] for o in json.loads(first.output)) == ["loaded", "loaded", "refused"]
    assert find_files(landing, "police") == []
    processed = landing / "police" / "processed"
    assert sorted(p.relative_to(processed).as_posix() for p in processed.rglob("*.csv")) == [
        "2025/police_20250301.csv", f"{date.today().year}/police_2026-09-02.csv", "2026/police_20260901.csv"]
    police_file(landing, "police_20260901.csv", rows)  # the agency sends the same file again
    second = CliRunner().invoke(main, args)
    assert [o["status"] for o in json.loads(second.output)] == ["duplicate"]
    assert (processed / "2026" / "police_20260901.csv.1").exists() and find_files(landing, "police") == []
    wh = warehouse
    assert wh.read("select count(*) as n from ops.files").n[0] == 3
    wh.engine.dispose()

