"""Ingest: landing files → quality gate → raw + standardised layers, one transaction per file.

A file is either loaded (its bad rows held back with their reasons) or refused whole and
copied to quarantine with a readable report; never partly loaded, never lost. A re-sent
file (same bytes) is recognised by its sha256 and changes nothing. A later file's version
of an event replaces the earlier one (same event key); an older file never overwrites a
newer version. ``reprocess`` re-runs refused files and held rows after a fix.
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import multiprocessing
import multiprocessing.util
import os
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from pipeline.governance.erasure import drop_erased
from pipeline.ingest import data_docs
from pipeline.ingest.agencies import Agency, FileName, get_agency, load_agencies, parse_file_name
from pipeline.ingest.canonical import canonical_frames, record_keys
from pipeline.ingest.extracts import ExtractError, read_extract
from pipeline.ingest.ledger import archive, earlier_copy, recorded, sha256_of
from pipeline.ingest.limits import UnsafePath, check_limits, check_path
from pipeline.ingest.quality import RefusedFile, check_chunk, max_bad_share, prepare_gate
from pipeline.settings import settings
from pipeline.warehouse.engine import Warehouse

__all__ = ["FileOutcome", "earlier_copy", "find_files", "ingest_file", "ingest_landing", "reprocess", "sha256_of"]

log = logging.getLogger(__name__)
SAMPLE_ROWS = 20


@dataclass
class FileOutcome:
    """What happened to one file; ``status`` is loaded, refused or duplicate (already seen)."""

    agency: str
    file_name: str
    status: str
    file_id: int | None = None
    rows_sent: int | None = None
    rows_loaded: int = 0
    rows_held: int = 0
    reason: str | None = None
    report_path: str | None = None
    data_docs: str | None = None  # the file's Great Expectations Data Docs page

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Tally:
    sent: int = 0
    loaded: int = 0
    held: int = 0
    reasons: Counter = field(default_factory=Counter)
    sample: list[str] = field(default_factory=list)
    expectations: dict[tuple, dict] = field(default_factory=dict)
    validation: Any = None  # GX's result its Data Docs page shows: the first failing chunk's, else the first


def _sort_key(path: Path) -> tuple:
    stem = path.stem.split("_")
    return (stem[1] if len(stem) > 1 else "", int(stem[2]) if len(stem) > 2 and stem[2].isdigit() else 1, path.name)


def find_files(landing: Path, agency: str) -> list[Path]:
    """Files in ``landing/<agency>/`` in extract order (date, then same-day sequence); not those
    archived under ``processed/``."""
    folder = landing / agency
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:  # the entry's type comes with the listing: no stat per file
        files = [Path(e.path) for e in entries if e.is_file() and not e.name.startswith(".")]
    return sorted(files, key=_sort_key)


def _count_rows(path: Path, agency: Agency) -> int | None:
    """Best-effort count of data rows in a file that could not be read, for the ledger."""
    if agency.file.format == "xlsx":
        return _count_xlsx_rows(path)
    data = path.read_bytes()
    if not data:
        return 0
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return max(lines - 1, 0)


def _count_xlsx_rows(path: Path) -> int | None:
    """Data rows on the first sheet of a workbook that opens at all; None when it does not."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            return max(sum(1 for row in wb.worksheets[0].iter_rows(values_only=True) if any(row)) - 1, 0)
        finally:
            wb.close()
    except Exception:  # a truncated or corrupt workbook: its row count cannot be known
        return None


def _version(name: FileName) -> int:
    return int(name.extract_date.strftime("%Y%m%d")) * 100 + name.sequence


@dataclass
class _Staging:
    """What one load (a file, or a file's released rows) must reconcile with in the staging layer.

    A mention (and its event) is replaced by a version from a file at least as late and never by
    an older one; so each mention id has one row at all times. Most loads need no lookup: the
    first file of an agency meets nothing, and only a file older than one already loaded can lose.
    """

    version: int
    prior: bool  # the staging layer may hold this agency's mentions from another load
    later: bool  # a loaded file of the agency is later than this one: its versions win
    seen: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))  # mention ids loaded so far

    @classmethod
    def of(cls, wh: Warehouse, conn: Connection, agency: Agency, file_id: int, name: FileName,
           releasing: bool = False) -> _Staging:
        """Released rows meet their own file's rows, so they always look up."""
        files = wh.read("select extract_date, sequence from ops.files where agency = :a and status = 'loaded' "
                        "and file_id <> :f", {"a": agency.name, "f": file_id}, conn)
        version = _version(name)
        versions = [_version(FileName(agency.name, pd.Timestamp(d).date(), int(q)))
                    for d, q in zip(files.extract_date, files.sequence, strict=True)]
        return cls(version, releasing or bool(versions), any(v > version for v in versions))


def _load_rows(wh: Warehouse, conn: Connection, agency: Agency, rows: pd.DataFrame, file_id: int,
               name: FileName, staging: _Staging, dates: dict[str, pd.Series]) -> None:
    """Standardise gated rows (``dates``: their date columns as the gate parsed them) and COPY them
    into the staging layer, replacing older versions."""
    if rows.empty:
        return
    mentions, events = canonical_frames(agency, rows, file_id, staging.version, name.extract_date, dates)
    keys = pd.Index(mentions["mention_id"].to_numpy(dtype=object))
    meets = keys if staging.prior else keys[keys.isin(staging.seen)]  # mention ids that may be in staging
    staging.seen = staging.seen.append(keys)
    if len(meets):
        with wh.staged(conn, "_fh_keys", pd.DataFrame({"mention_id": meets.to_numpy(dtype=object)})):
            if staging.later:  # keep the later file's version: do not load ours
                newer = wh.read("select k.mention_id from _fh_keys k join staging.person_mentions m "
                                "on m.mention_id = k.mention_id where m.version > :v", {"v": staging.version}, conn)
                keep = ~keys.isin(newer["mention_id"])
                mentions, events = mentions[keep], events[keep]
            for table in ("staging.person_mentions", "staging.events"):
                wh.execute(conn, f"delete from {table} where mention_id in (select mention_id from _fh_keys) "
                                 "and version <= :v", {"v": staging.version})
    wh.insert(conn, "staging.person_mentions", mentions)
    wh.insert(conn, "staging.events", events)


def _gate_and_load(wh: Warehouse, conn: Connection, agency: Agency, chunk: pd.DataFrame, file_id: int,
                   name: FileName, tally: _Tally, staging: _Staging) -> None:
    chunk = chunk.reset_index(drop=True)
    tally.sent += len(chunk)
    chunk = drop_erased(wh, conn, agency, chunk, file_id)  # erased records never come back
    if chunk.empty:
        return
    gate = check_chunk(agency, chunk, name.extract_date)
    for e in gate.expectation_summary:
        key = (e["expectation"], e["column"])
        agg = tally.expectations.setdefault(key, {**e, "unexpected_count": 0})
        agg["unexpected_count"] += e["unexpected_count"]
        agg["success"] = agg["success"] and e["success"]
    if tally.validation is None or (tally.validation.success and not gate.validation.success):
        tally.validation = gate.validation
    bad = gate.bad
    raw = chunk[["row_number", *agency.column_names]].copy()
    raw.insert(0, "file_id", file_id)
    wh.insert(conn, f"raw.{agency.name}", raw)
    if bad.any():
        held = pd.DataFrame({"file_id": file_id, "row_number": chunk["row_number"][bad].astype("int64"),
                             "agency": agency.name, "record_key": record_keys(agency, chunk)[bad],
                             "reasons": gate.reasons[bad], "status": "held"})
        wh.insert(conn, "ops.held_rows", held)
        for reasons, row in zip(gate.reasons[bad], chunk["row_number"][bad], strict=True):
            for r in reasons.split("; "):
                tally.reasons[r.split(" (")[0]] += 1
            if len(tally.sample) < SAMPLE_ROWS:
                tally.sample.append(f"row {row}: {reasons}")
    _load_rows(wh, conn, agency, chunk[~bad], file_id, name, staging, gate.passed_dates())
    tally.held += int(bad.sum())
    tally.loaded += int((~bad).sum())


def _refusal_for_share(tally: _Tally, share: float) -> RefusedFile | None:
    if tally.sent and tally.held / tally.sent > share:
        top = [f"{n} × {why}" for why, n in tally.reasons.most_common(10)]
        return RefusedFile(
            f"{tally.held} of {tally.sent} rows ({tally.held / tally.sent:.1%}) break row rules; "
            f"more than the {share:.1%} allowed", [*top, "first bad rows:", *tally.sample])
    return None


_UNCHANGED = "unchanged (same name, size and modification time) since"


def _duplicate(agency: str, path: Path, seen: Any, why: str) -> FileOutcome:
    """The outcome of a file the ledger already holds (``seen``: its first ledger row)."""
    return FileOutcome(agency, path.name, "duplicate", file_id=int(seen.file_id),
                       reason=f"{why} file {int(seen.file_id)} ({seen.status})")


def ingest_file(wh: Warehouse, path: Path, agency: Agency, quarantine: Path,
                share: float | None = None, on_rows: Callable[[int], None] | None = None,
                archived: bool = False, unrecorded: bool = False) -> FileOutcome:
    """Gate and load one file in one transaction, or refuse it whole into quarantine; with
    ``archived``, then move it to ``processed/YYYY/`` (see :mod:`pipeline.ingest.ledger`).
    ``unrecorded``: the caller has just found the file not :func:`recorded` (``ingest_landing``
    asks once for all files), so it is not asked again: a lookup cost a few round trips a file."""
    share = max_bad_share() if share is None else share
    try:
        check_path(path, agency)  # hostile input: never follow a link or read outside the landing folder
    except UnsafePath as exc:
        log.warning("%s: refused unread: %s", path.name, exc)
        return FileOutcome(agency.name, path.name, "refused", reason=str(exc))
    if not unrecorded and len(seen := recorded(wh, [path])):
        outcome = _duplicate(agency.name, path, next(seen.itertuples()), _UNCHANGED)
    elif len(seen := earlier_copy(wh, sha := sha256_of(path), path.name)):
        outcome = _duplicate(agency.name, path, next(seen.itertuples()), "same bytes as")
    else:
        outcome = _load_or_refuse(wh, path, agency, quarantine, share, sha, on_rows)
    if archived:
        _archive(path, agency)
    return outcome


def _archive(path: Path, agency: Agency) -> None:
    """Archive a processed file; a landing folder that cannot be written (mounted read-only)
    leaves it in place, with a warning: the ledger still recognises it unread."""
    try:
        extract = parse_file_name(path.name, agency).extract_date
    except ValueError:
        extract = None
    try:
        archive(path, extract)
    except OSError as exc:
        log.warning("%s: not archived: %s", path.name, exc.strerror or exc)


def _load_or_refuse(wh: Warehouse, path: Path, agency: Agency, quarantine: Path, share: float, sha: str,
                    on_rows: Callable[[int], None] | None, file_id: int | None = None,
                    delivered_name: str | None = None) -> FileOutcome:
    delivered_name = delivered_name or path.name
    tally = _Tally()
    try:
        name = parse_file_name(path.name, agency)
    except ValueError as exc:
        return _refuse(wh, path, agency, sha, RefusedFile(str(exc)), tally, quarantine, file_id, delivered_name)
    try:
        check_limits(path, agency)  # oversized files and xlsx bombs are refused before parsing
        with wh.begin() as conn:
            wh.lock(conn, f"ingest:{agency.name}")  # loads of one agency reconcile versions one at a time
            file_id = _open_ledger(wh, conn, agency, path, delivered_name, name, sha, file_id)
            staging = _Staging.of(wh, conn, agency, file_id, name)
            for chunk in read_extract(path, agency):
                _gate_and_load(wh, conn, agency, chunk, file_id, name, tally, staging)
                if on_rows:
                    on_rows(len(chunk))
            refusal = _refusal_for_share(tally, share)
            if refusal:
                raise refusal
            wh.execute(conn, "update ops.files set status = 'loaded', rows_sent = :s, rows_loaded = :l, "
                             "rows_held = :h, reason = null, loaded_at = :t where file_id = :f",
                       {"s": tally.sent, "l": tally.loaded, "h": tally.held, "t": datetime.now(), "f": file_id})
    except (ExtractError, RefusedFile) as exc:
        refusal = exc if isinstance(exc, RefusedFile) else RefusedFile(str(exc))
        return _refuse(wh, path, agency, sha, refusal, tally, quarantine,
                       file_id if _ledger_exists(wh, file_id) else None, delivered_name)
    docs = data_docs.publish(quarantine, agency, file_id, delivered_name, "loaded",
                             f"{tally.loaded} rows loaded, {tally.held} held back", tally.validation,
                             tally.expectations.values(), tally.loaded + tally.held)
    log.info("%s: loaded %d rows, held back %d", path.name, tally.loaded, tally.held)
    return FileOutcome(agency.name, delivered_name, "loaded", file_id, tally.sent, tally.loaded, tally.held,
                       data_docs=docs and str(docs))


def _ledger_exists(wh: Warehouse, file_id: int | None) -> bool:
    return file_id is not None and bool(wh.scalar("select count(*) from ops.files where file_id = :f", {"f": file_id}))


def _open_ledger(wh: Warehouse, conn: Connection, agency: Agency, path: Path, delivered_name: str,
                 name: FileName, sha: str, file_id: int | None) -> int:
    params = {"a": agency.name, "n": delivered_name, "d": name.extract_date, "q": name.sequence, "s": sha,
              "b": path.stat().st_size, "m": path.stat().st_mtime_ns, "t": datetime.now()}
    if file_id is not None:  # reprocessing a refused file keeps its ledger row
        wh.execute(conn, "update ops.files set extract_date = :d, sequence = :q, status = 'loading' "
                         "where file_id = :f", {**params, "f": file_id})
        return file_id
    return wh.execute(conn, "insert into ops.files (agency, file_name, extract_date, sequence, sha256, size_bytes, "
                            "mtime_ns, status, received_at) values (:a, :n, :d, :q, :s, :b, :m, 'loading', :t) "
                            "returning file_id", params).scalar_one()


def _refuse(wh: Warehouse, path: Path, agency: Agency, sha: str, refusal: RefusedFile, tally: _Tally,
            quarantine: Path, file_id: int | None, delivered_name: str) -> FileOutcome:
    """Record the refusal, copy the file to quarantine and write its report; load nothing."""
    rows = tally.sent if tally.sent and refusal.reason.endswith("allowed") else _count_rows(path, agency)
    with wh.begin() as conn:
        wh.lock(conn, f"ingest:{agency.name}")  # no other refusal of the agency half-done while we sweep
        folder = quarantine / agency.name
        _drop_interrupted_copies(wh, conn, folder, delivered_name)
        if file_id is None:
            file_id = wh.execute(conn, "insert into ops.files (agency, file_name, sha256, size_bytes, mtime_ns, "
                                       "status, received_at) values (:a, :n, :s, :b, :m, 'refused', :t) "
                                       "returning file_id",
                                 {"a": agency.name, "n": delivered_name, "s": sha, "b": path.stat().st_size,
                                  "m": path.stat().st_mtime_ns, "t": datetime.now()}).scalar_one()
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{file_id}__{delivered_name}"
        if path.resolve() != target.resolve():
            shutil.copy2(path, target)
        docs = data_docs.publish(quarantine, agency, file_id, delivered_name, "refused", refusal.reason,
                                 tally.validation if refusal.validation is None else refusal.validation,
                                 tally.expectations.values(), tally.loaded + tally.held or rows)
        report = _write_report(target, agency, delivered_name, file_id, sha, refusal, tally, rows, docs)
        wh.execute(conn, "update ops.files set status = 'refused', reason = :r, report_path = :p, rows_sent = :n, "
                         "rows_loaded = 0, rows_held = 0 where file_id = :f",
                   {"r": refusal.reason, "p": str(report), "n": rows, "f": file_id})
    log.warning("%s: refused: %s", delivered_name, refusal.reason)
    return FileOutcome(agency.name, delivered_name, "refused", file_id, rows, 0, 0, refusal.reason, str(report),
                       docs and str(docs))


def _drop_interrupted_copies(wh: Warehouse, conn: Connection, folder: Path, delivered_name: str) -> None:
    """Remove this file's quarantine copies and reports that no ledger row owns: a refusal killed
    before it committed rolled its ledger row back, and its id is never given again, so they
    would lie in quarantine for good, unknown to ``reprocess``."""
    if not folder.is_dir():
        return
    owned = {str(i) for i in wh.read("select file_id from ops.files where file_name = :n",
                                     {"n": delivered_name}, conn)["file_id"]}
    ours = {delivered_name, f"{delivered_name}.report.md", f"{delivered_name}.report.json"}
    for path in folder.iterdir():
        prefix, _, rest = path.name.partition("__")
        if rest in ours and prefix.isdigit() and prefix not in owned:
            path.unlink(missing_ok=True)


def _write_report(target: Path, agency: Agency, delivered_name: str, file_id: int, sha: str,
                  refusal: RefusedFile, tally: _Tally, rows: int | None, docs: Path | None) -> Path:
    """A human-readable Markdown report next to the quarantined file, plus the same facts as JSON."""
    failed = [e for e in tally.expectations.values() if not e["success"]]
    lines = [
        f"# Refused: {delivered_name}", "",
        f"- agency: **{agency.name}** ({agency.description})",
        f"- ledger file id: {file_id}", f"- sha256: `{sha}`",
        f"- rows in file: {rows if rows is not None else 'unknown'}",
        f"- refused at: {datetime.now():%Y-%m-%d %H:%M:%S}",
        f"- Great Expectations Data Docs: [{docs}]({os.path.relpath(docs, target.parent)})" if docs else
        "- Great Expectations Data Docs: none (refused before the suite ran)", "",
        "## Why", "", refusal.reason, "",
    ]
    if refusal.details:
        lines += ["## Details", "", *[f"- {d}" for d in refusal.details], ""]
    if failed:
        lines += ["## Failed expectations (Great Expectations suite "
                  f"`{agency.name}_raw`)", "", "| expectation | column | unexpected rows | why it exists |",
                  "|---|---|---|---|"]
        lines += [f"| {e['expectation']} | {e['column'] or ''} | {e['unexpected_count']} | {e['notes'] or ''} |"
                  for e in failed]
        lines.append("")
    lines += ["## Nothing was loaded", "",
              "No row of this file is in the warehouse. The file is kept here unchanged.", "",
              "## How to fix", "",
              f"Correct this copy (keep the `{file_id}__` prefix of its name; the rest may be renamed to fit "
              f"`{agency.name}_YYYYMMDD[_n].{agency.file.extension}`), or fix the declaration/suite or the "
              "allowed share of bad rows, then run `familyhub reprocess`. The agency need not re-send it.", ""]
    report = target.with_name(target.name + ".report.md")
    report.write_text("\n".join(lines), encoding="utf-8")
    facts = {"file_id": file_id, "agency": agency.name, "file_name": delivered_name, "sha256": sha, "rows": rows,
             "reason": refusal.reason, "details": refusal.details, "failed_expectations": failed,
             "data_docs": docs and str(docs)}
    target.with_name(target.name + ".report.json").write_text(json.dumps(facts, indent=2, default=str))
    return report


def ingest_workers(wh: Warehouse) -> int:
    """Processes that ingest agencies side by side: files of different agencies are independent
    and PostgreSQL takes concurrent writers (``FAMILYHUB_INGEST_WORKERS``, default 2); the embedded
    warehouse has one writer."""
    return 1 if wh.is_embedded else settings().ingest_workers


def ingest_landing(wh: Warehouse, landing: Path, quarantine: Path, agencies: Iterable[str] | None = None,
                   share: float | None = None, progress: bool = False, archived: bool = False) -> list[FileOutcome]:
    """Ingest every file waiting in the landing folders, oldest extract first within an agency;
    agencies in parallel worker processes where the warehouse allows (:func:`ingest_workers`).
    Files the ledger holds unchanged are recognised in one query, unread; ``archived`` moves
    every processed file to ``processed/YYYY/``."""
    from tqdm import tqdm

    names = list(agencies) if agencies else list(load_agencies())
    found = {a: files for a in names if (files := find_files(landing, a))}
    seen = {Path(r.path): r for r in recorded(wh, [p for files in found.values() for p in files]).itertuples()}
    known = {p: _duplicate(a, p, seen[p], _UNCHANGED) for a, files in found.items() for p in files if p in seen}
    work = {a: new for a, files in found.items() if (new := [p for p in files if p not in known])}
    outcomes: dict[str, list[FileOutcome]] = {}
    with tqdm(total=sum(map(len, work.values())), unit="file", disable=not progress, desc="ingest") as bar:
        workers = min(ingest_workers(wh), len(work))
        if workers > 1:
            outcomes = _ingest_in_workers(wh, work, quarantine, share, workers, bar.update, archived)
        for name, files in work.items():
            if name in outcomes:
                continue
            outcomes[name] = []
            for path in files:
                bar.set_postfix_str(path.name)
                outcomes[name].append(ingest_file(wh, path, get_agency(name), quarantine, share, archived=archived,
                                                      unrecorded=True))
                bar.update()
    if archived:
        for path in known:
            _archive(path, get_agency(known[path].agency))
    wh.checkpoint()  # the embedded database file takes the load at once, not a checkpoint per few files
    done = {a: iter(outcomes.get(a, [])) for a in found}
    return [known[p] if p in known else next(done[a]) for a, files in found.items() for p in files]


def _ingest_in_workers(wh: Warehouse, work: dict[str, list[Path]], quarantine: Path, share: float | None,
                       workers: int, done: Callable[[int], object], archived: bool) -> dict[str, list[FileOutcome]]:
    """One task per agency, largest first, on ``workers`` forked processes with their own connections."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    prepare_gate(work)  # built once here (and kept for the next run), shared by the forked workers
    url = wh.engine.url.render_as_string(hide_password=False)
    wh.engine.dispose()  # no open connection may be inherited by a child
    largest = sorted(work, key=lambda a: -sum(p.stat().st_size for p in work[a]))
    outcomes = {}
    # Everything the parent holds is frozen, garbage included: a child that collected an inherited
    # DuckDB connection would wait forever on its (unforked) threads. No collection first: over a
    # run's objects that took a fifth of a second each run; the parent collects after unfreezing.
    gc.freeze()
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
            tasks = {pool.submit(_ingest_agency, url, name, work[name], quarantine, share, archived): name
                     for name in largest}
            for task in as_completed(tasks):
                outcomes[tasks[task]] = task.result()
                done(len(outcomes[tasks[task]]))
    finally:
        gc.unfreeze()
    return outcomes


def _die_with_parent(parent: int) -> None:
    """A worker must not outlive an ingest that was killed: orphaned, it would wait forever on
    its task queue holding memory, or finish a file nobody will report (Linux: PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took hold
        os._exit(1)


@cache
def _worker_warehouse(url: str) -> Warehouse:
    """The worker process's warehouse, connected once for all its tasks (setting up a connection
    cost each agency's task ~10 ms); its connections are closed when the worker exits."""
    wh = Warehouse.connect(url)
    multiprocessing.util.Finalize(wh, wh.engine.dispose, exitpriority=0)
    return wh


def _ingest_agency(url: str, name: str, files: list[Path], quarantine: Path, share: float | None,
                   archived: bool) -> list[FileOutcome]:
    """A worker's task: the agency's files in order, each in its own transaction."""
    wh = _worker_warehouse(url)
    return [ingest_file(wh, path, get_agency(name), quarantine, share, archived=archived, unrecorded=True)
            for path in files]


def reprocess(wh: Warehouse, quarantine: Path, share: float | None = None) -> dict[str, list]:
    """Re-run refused files (from their quarantine copies) and held rows after a fix."""
    share = max_bad_share() if share is None else share
    files = []
    refused = wh.read("select file_id, agency, file_name, sha256 from ops.files where status = 'refused' "
                      "order by file_id")
    for row in refused.itertuples():
        agency = get_agency(row.agency)
        copies = sorted((quarantine / row.agency).glob(f"{row.file_id}__*"))
        copies = [c for c in copies if not c.name.endswith((".report.md", ".report.json"))]
        if not copies:
            files.append(FileOutcome(row.agency, row.file_name, "refused", row.file_id,
                                     reason="quarantine copy not found"))
            continue
        copy = copies[0]
        staged = copy.with_name(copy.name.split("__", 1)[1])
        shutil.copy2(copy, staged) if staged != copy else None
        try:
            outcome = _load_or_refuse(wh, staged, agency, quarantine, share, row.sha256, None,
                                      file_id=int(row.file_id), delivered_name=row.file_name)
        finally:
            staged.unlink(missing_ok=True)
        files.append(outcome)
    return {"files": files, "rows": _release_held(wh)}


def _release_held(wh: Warehouse) -> list[dict]:
    """Re-check held rows; load those that now pass, keep the rest with their current reasons."""
    released = []
    for agency in load_agencies().values():
        held = wh.read(
            f"select r.*, f.extract_date, f.sequence from raw.{agency.name} r "
            "join ops.held_rows h on h.file_id = r.file_id and h.row_number = r.row_number "
            "join ops.files f on f.file_id = r.file_id where h.status = 'held' order by r.file_id, r.row_number")
        for (file_id, extract, seq), rows in held.groupby(["file_id", "extract_date", "sequence"]):
            rows = rows.drop(columns=["file_id", "extract_date", "sequence"]).fillna("").reset_index(drop=True)
            name = FileName(agency.name, pd.Timestamp(extract).date(), int(seq))
            gate = check_chunk(agency, rows, name.extract_date)
            ok = ~gate.bad
            with wh.begin() as conn:
                wh.lock(conn, f"ingest:{agency.name}")
                staging = _Staging.of(wh, conn, agency, int(file_id), name, releasing=True)
                _load_rows(wh, conn, agency, rows[ok], int(file_id), name, staging, gate.passed_dates())
                wh.execute(conn, "update ops.held_rows set status = 'released', released_at = :t "
                                 "where file_id = :f and row_number = :r",
                           [{"t": datetime.now(), "f": int(file_id), "r": int(r)} for r in rows["row_number"][ok]])
                wh.execute(conn, "update ops.held_rows set reasons = :why where file_id = :f and row_number = :r",
                           [{"why": w, "f": int(file_id), "r": int(r)}
                            for w, r in zip(gate.reasons[~ok], rows["row_number"][~ok], strict=True)])
                n = int(ok.sum())
                wh.execute(conn, "update ops.files set rows_loaded = rows_loaded + :n, rows_held = rows_held - :n "
                                 "where file_id = :f", {"n": n, "f": int(file_id)})
            released.append({"agency": agency.name, "file_id": int(file_id), "released": n,
                             "still_held": int((~ok).sum())})
    return released
