"""Great Expectations Data Docs: every validated file gets GX's page, linked from its report."""

from __future__ import annotations

import functools
import json
import re
from html import unescape
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_ingest import POLICE_HEADER, load, police_file, police_row

from pipeline.cli import main
from pipeline.ingest import data_docs
from pipeline.ingest import load as ingest
from pipeline.ingest.extracts import read_extract
from pipeline.warehouse.engine import Warehouse


def text(page: Path) -> str:
    """The words of an HTML page (GX spreads a sentence over many tags)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


@pytest.fixture(autouse=True)
def _default_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(data_docs.ENV, raising=False)


def test_loaded_file_gets_gx_page_with_counts_in_file_rows(warehouse: Warehouse, tmp_path: Path) -> None:
    rows = [police_row(i) for i in range(1, 20)] + [police_row(20, category="WEIRD")]
    out = load(warehouse, police_file(tmp_path / "landing", "police_20260901.csv", rows), tmp_path)
    assert (out.status, out.rows_held) == ("loaded", 1)
    page = Path(out.data_docs)
    assert page.is_relative_to(tmp_path / "data_docs")  # beside the quarantine folder
    words = text(page)
    assert "Expectation Validation Result" in words and "police_raw" in words  # GX's own page
    assert f"{out.file_id}__police_20260901.csv" in words
    # the failing expectation, counted in the file's rows (GX itself saw each distinct value once)
    assert "values must belong to this set: ASB CRIME" in words
    assert "1 unexpected values found. 5% of 20 total rows." in words
    assert "'WEIRD'" not in words  # row values stay in ops.held_rows, not in the docs folder
    index = text(tmp_path / "data_docs" / "index.html")
    assert "police_20260901.csv" in index and "loaded: 19 rows loaded, 1 held back" in index
    assert (tmp_path / "data_docs" / "expectations" / "police_raw.html").exists()  # the page's suite link


def test_refused_file_report_links_its_gx_page(warehouse: Warehouse, tmp_path: Path) -> None:
    header = POLICE_HEADER.replace(",Category", "")
    body = [re.sub(r",CRIME,", ",", police_row(i)) for i in range(1, 4)]
    path = police_file(tmp_path / "landing", "police_20260901.csv", [])
    path.write_text("\n".join([header, *body]) + "\n")
    out = load(warehouse, path, tmp_path)
    assert out.status == "refused" and "Category" in out.reason
    report = Path(out.report_path)
    link = re.search(r"Great Expectations Data Docs: \[(.+?)\]\((.+?)\)", report.read_text())
    assert link, report.read_text()
    page = (report.parent / link.group(2)).resolve()
    assert page == Path(link.group(1)).resolve() == Path(out.data_docs).resolve() and page.exists()
    facts = json.loads(report.with_name(report.name.replace(".report.md", ".report.json")).read_text())
    assert Path(facts["data_docs"]) == page
    words = text(page)
    assert "Status: Failed" in words
    assert "Must have at least these columns (in any order): OccurrenceRef" in words  # the table expectation
    assert "refused: required column(s) missing: Category" in words
    index = text(tmp_path / "data_docs" / "index.html")
    assert "refused: required column(s) missing: Category" in index


def test_refused_for_bad_rows_page_totals_and_env_folder(warehouse: Warehouse, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data_docs.ENV, str(tmp_path / "elsewhere"))
    rows = [police_row(i, category="WEIRD" if i <= 5 else "CRIME") for i in range(1, 11)]
    out = load(warehouse, police_file(tmp_path / "landing", "police_20260901.csv", rows), tmp_path)
    assert out.status == "refused" and "allowed" in out.reason
    page = Path(out.data_docs)
    assert page.is_relative_to(tmp_path / "elsewhere") and page.exists()
    assert "5 unexpected values found. 50% of 10 total rows." in text(page)
    assert not (tmp_path / "data_docs").exists()


def test_file_refused_before_gx_ran_has_no_page(warehouse: Warehouse, tmp_path: Path) -> None:
    out = load(warehouse, police_file(tmp_path / "landing", "police_2026-09-01.csv", [police_row(1)]), tmp_path)
    assert out.status == "refused" and out.data_docs is None
    assert "Data Docs: none" in Path(out.report_path).read_text()


def test_every_validation_is_listed_in_the_index(warehouse: Warehouse, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    first = load(warehouse, police_file(landing, "police_20260901.csv", [police_row(1)]), tmp_path)
    second = load(warehouse, police_file(landing, "police_20260902.csv", [police_row(2)]), tmp_path)
    site = tmp_path / "data_docs"
    hrefs = re.findall(r"href='([^']+)'", (site / "index.html").read_text())
    pages = [h for h in hrefs if h.startswith("validations/")]
    assert len(pages) == 2 and all((site / p).exists() for p in pages)
    assert {Path(first.data_docs), Path(second.data_docs)} == {site / p for p in pages}


def test_cli_data_docs_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data_docs.ENV, str(tmp_path / "not-this"))  # restored after the command sets it
    police_file(tmp_path / "landing", "police_20260901.csv", [police_row(1)])
    docs = tmp_path / "docs"
    assert CliRunner().invoke(main, ["db", "upgrade", "--warehouse", f"duckdb:///{tmp_path / 'wh.duckdb'}"]).exit_code == 0
    result = CliRunner().invoke(main, ["ingest", "--landing", str(tmp_path / "landing"), "--data-docs", str(docs),
                                       "--warehouse", f"duckdb:///{tmp_path / 'wh.duckdb'}"])
    assert result.exit_code == 0, result.output
    assert f"Data Docs of these files: {docs / 'index.html'}" in result.output
    assert len(list((docs / "validations").rglob("*.html"))) == 1 and not (tmp_path / "not-this").exists()


def test_file_in_several_chunks_gets_one_page_with_whole_file_counts(warehouse: Warehouse, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "read_extract", functools.partial(read_extract, chunk_rows=10))
    rows = [police_row(i, category="WEIRD" if i in (2, 22) else "CRIME") for i in range(1, 26)]
    out = load(warehouse, police_file(tmp_path / "landing", "police_20260901.csv", rows), tmp_path)
    assert (out.status, out.rows_held) == ("loaded", 2)
    assert len(list((tmp_path / "data_docs" / "validations").rglob("*.html"))) == 1
    assert "2 unexpected values found. 8% of 25 total rows." in text(Path(out.data_docs))


def test_relative_folders_still_get_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # `make demo` passes relative folders
    police_file(Path("landing"), "police_20260901.csv", [police_row(1)])
    assert CliRunner().invoke(main, ["db", "upgrade", "--warehouse", "duckdb:///wh.duckdb"]).exit_code == 0
    result = CliRunner().invoke(main, ["ingest", "--landing", "landing", "--warehouse", "duckdb:///wh.duckdb"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "data_docs" / "validations").rglob("*.html"))) == 1


def test_index_escapes_what_files_say_and_keeps_older_rows_newest_first(tmp_path: Path) -> None:
    from datetime import datetime

    from pipeline.templating import render

    def row(name: str) -> str:
        return render("data_docs_row.html", outcome="refused", run_time=datetime(2026, 9, 1, 8), agency="police",
                      page=f"validations/{name}.html", file_name=name, file_id=1, suite="police_raw",
                      detail="required column(s) missing: <script>alert(1)</script>", success=False)

    data_docs._add_to_index(tmp_path, row("police_20260901.csv"))
    data_docs._add_to_index(tmp_path, row("police_20260902.csv"))
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "missing: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<tr class='refused'>") == 2
    assert page.index("police_20260902.csv") < page.index("police_20260901.csv")
    assert "2026-09-01 08:00:00" in text(tmp_path / "index.html")
