"""Great Expectations Data Docs of every file the gate validates, in one known folder.

Each file GX validated (loaded or refused) gets GX's own validation-result page, drawn by GX's
renderers into GX's site layout (``validations/<suite>/<ledger id>__<file>/<run time>/<outcome>.html``)
under the Data Docs folder: ``FAMILYHUB_DATA_DOCS``, else ``data_docs`` beside the quarantine
folder. The suite pages sit under ``expectations/`` and ``index.html`` lists every page.
A file refused before GX saw it (a misnamed, unreadable or oversized file) has no page.

What a page shows. The gate may give GX each column's distinct values rather than every row
(:mod:`pipeline.ingest.quality`), so GX counts values; the page restates every expectation's counts in
the file's rows from the gate's per-file tally, the numbers the quarantine report and the ledger
give, and leaves out the unexpected values and their positions (personal data, and positions in
GX's input rather than in the file). A file read in several chunks gets one page: the GX result
of its first chunk that failed an expectation (else of its first chunk), with each
expectation's verdict and counts taken over the whole file, because the gate's verdict is on
the file. When a file is refused on its columns, rows were never judged: a failed column
expectation then shows no count. The gate's arithmetic row rules (real dates, check digits,
repeated event keys) are not GX expectations: the page's "outcome" counts them, the quarantine
report and ``ops.held_rows`` name them.

Cost: one page render, ~0.03-0.08 s a file once GX's Jinja templates are compiled (kept per
process and in Jinja's bytecode cache); a suite page is redrawn only when its suite file is
newer. The index is a plain table that each page adds its row to: GX's own index page redraws
every page's row each time, seconds once there are thousands of files. Pages load their
scripts and styles from the CDNs GX's templates name; opened offline they are plain.
"""

from __future__ import annotations

import fcntl
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from expectations import suite_path
from pipeline.ingest.agencies import Agency
from pipeline.ingest.quality import gx_suite
from pipeline.settings import settings
from pipeline.templating import render

__all__ = ["ENV", "folder", "publish"]

log = logging.getLogger(__name__)
ENV = "FAMILYHUB_DATA_DOCS"
ROWS = re.compile(r"<tbody>\n(.*)</tbody>", re.S)  # the index's rows, in the page its template draws
#: Result fields the page leaves out: row values and positions, and counts the gate cannot restate.
UNSHOWN = ("unexpected_list", "unexpected_index_list", "unexpected_index_query", "partial_unexpected_list",
           "partial_unexpected_index_list", "partial_unexpected_counts", "missing_count", "missing_percent",
           "unexpected_percent_total", "unexpected_percent_nonmissing")


def folder(quarantine: Path) -> Path:
    """The Data Docs folder: ``FAMILYHUB_DATA_DOCS``, else ``data_docs`` beside the quarantine folder."""
    configured = settings().data_docs
    # absolute: GX's filesystem store refuses a relative base directory
    return (Path(configured) if configured else quarantine.parent / "data_docs").absolute()


def publish(quarantine: Path, agency: Agency, file_id: int, file_name: str, outcome: str, detail: str,
            validation: Any, expectations: Iterable[dict[str, Any]], rows: int | None) -> Path | None:
    """Write the file's page and list it in the index; its path, or None when GX never ran on it.

    ``validation`` is GX's result for the file (it is restated in place), ``expectations`` the
    gate's per-file totals (``GateResult.expectation_summary`` summed over chunks), ``rows`` the
    rows validated. A page that cannot be drawn is logged, never a reason to undo the gate.
    """
    if validation is None:
        return None
    try:
        return _publish(folder(quarantine), agency, file_id, file_name, outcome, detail, validation,
                        list(expectations), rows or 0)
    except Exception:  # the docs describe the gate's verdict; they must not change it
        log.exception("%s: Great Expectations Data Docs page not written", file_name)
        return None


def _publish(site: Path, agency: Agency, file_id: int, file_name: str, outcome: str, detail: str,
             validation: Any, expectations: list[dict[str, Any]], rows: int) -> Path:
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.store import HtmlSiteStore
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        SiteSectionIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.render.renderer import (
        ExpectationSuitePageRenderer,
        ValidationResultsPageRenderer,
    )

    store = HtmlSiteStore(store_backend={"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site)})
    suite = gx_suite(agency.name)
    suite_id = ExpectationSuiteIdentifier(suite.name)
    run_id = RunIdentifier(run_name=f"{file_id}__{file_name}", run_time=validation.meta["run_id"].run_time)
    _restate(validation, expectations, rows)
    validation.meta.update(run_id=run_id, batch_parameters={
        "file": file_name, "agency": agency.name, "ledger file id": file_id, "rows validated": rows,
        "outcome": f"{outcome}: {detail}"})
    page = _view().render(ValidationResultsPageRenderer().render(validation))
    key = ValidationResultIdentifier(suite_id, run_id, batch_identifier=outcome)
    path = Path(store.set(SiteSectionIdentifier("validations", key), page))
    with _locked(site):
        suite_page = site / "expectations" / f"{suite.name}.html"
        if not suite_page.exists() or suite_page.stat().st_mtime < suite_path(agency.name).stat().st_mtime:
            store.set(SiteSectionIdentifier("expectations", suite_id),
                      _view().render(ExpectationSuitePageRenderer().render(suite)))
        _add_to_index(site, render("data_docs_row.html", outcome=outcome, run_time=run_id.run_time,
                                   agency=agency.name, page=quote(path.relative_to(site).as_posix()),
                                   file_name=file_name, file_id=file_id, detail=detail,
                                   success=validation.success, suite=suite.name))
    return path


@cache
def _view() -> Any:
    """GX's page view, kept: it compiles its Jinja templates once (most of a page's cost), and
    keeps the compiled code in Jinja's per-user cache folder for the next process (an Airflow
    task is one). GX's installed templates do not change under a running process: Jinja need
    not check each one's file at each of its hundred or so uses a page."""
    from great_expectations.render.view import DefaultJinjaPageView
    from jinja2 import FileSystemBytecodeCache

    view = DefaultJinjaPageView()
    view.env.auto_reload = False
    try:
        view.env.bytecode_cache = FileSystemBytecodeCache()
    except (OSError, RuntimeError):  # no private temporary folder: each process compiles again
        log.warning("no Jinja bytecode cache: Data Docs templates compile in every process")
    return view


def _restate(validation: Any, expectations: list[dict[str, Any]], rows: int) -> None:
    """Each expectation's verdict and counts over the file's rows, from the gate's tally."""
    totals = {(e["expectation"], e["column"]): e for e in expectations}
    for r in validation.results:
        res = r.result
        if not res or "unexpected_count" not in res:  # a table expectation, or one that could not run
            continue
        total = totals.get((r.expectation_config.type, r.expectation_config.kwargs.get("column")))
        if total is not None:
            r.success = total["success"]
        for name in UNSHOWN:
            res.pop(name, None)
        res["element_count"] = rows
        if total is None and not r.success:  # the file was refused before its rows were judged
            res.pop("unexpected_count")
            res.pop("unexpected_percent", None)
            continue
        unexpected = total["unexpected_count"] if total is not None else 0
        res["unexpected_count"] = unexpected
        res["unexpected_percent"] = 100 * unexpected / rows if rows else 0.0
    verdicts = [r.success for r in validation.results]
    validation.success = all(verdicts)
    validation.statistics.update(
        evaluated_expectations=len(verdicts), successful_expectations=sum(verdicts),
        unsuccessful_expectations=len(verdicts) - sum(verdicts),
        success_percent=100 * sum(verdicts) / len(verdicts) if verdicts else None)


@contextmanager
def _locked(site: Path) -> Iterator[None]:
    """One writer of the index and suite pages at a time (ingest workers and DAGs run side by side)."""
    site.mkdir(parents=True, exist_ok=True)
    with (site / ".lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _add_to_index(site: Path, row: str) -> None:
    """Put the page's row at the top of ``index.html`` (newest first); older rows are kept as
    written (escaped when they were drawn), so adding one costs the same however many there are."""
    index = site / "index.html"
    found = ROWS.search(index.read_text(encoding="utf-8")) if index.exists() else None
    tmp = site / "index.html.tmp"
    tmp.write_text(render("data_docs_index.html", rows=Markup(row + "\n" + (found.group(1) if found else ""))),
                   encoding="utf-8")
    tmp.replace(index)
