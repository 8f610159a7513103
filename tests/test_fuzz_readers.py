"""Hostile input: fuzzed extracts end as a load, a held-back row or a refusal with a reason.

Hypothesis writes each input as a landing file (well-formed files with hostile values,
mutated real extracts, and raw bytes), which goes through the same checks as ingest: the
name and size limits, the reader, then the quality gate and the canonical mapping. The
reader runs once per input; the gate, which costs the same for one row as for thousands,
runs once per header over all inputs that read cleanly, and each input's rows are then
judged as ingest judges a file (held rows with reasons, refused above the bad-row share).
No database is needed: ``test_ingest.py`` and ``test_crash_safety.py`` cover loading.
"""

from __future__ import annotations

import csv
import io
import os
import random
import zipfile
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from pipeline.governance.exports import safe_cell, write_csv, write_xlsx
from pipeline.ingest.agencies import get_agency, load_agencies, parse_file_name
from pipeline.ingest.canonical import canonical_frames
from pipeline.ingest.extracts import ExtractError, read_extract
from pipeline.ingest.limits import Limits, UnsafePath, check_limits, check_path
from pipeline.ingest.quality import RefusedFile, check_chunk, max_bad_share

#: Inputs per agency of the fixed corpus, the same every run (10,050 in all; workbooks are slower to write).
EXAMPLES = {"housing": 600, **{a: 1575 for a in ("police", "yot", "health", "schools", "socialcare", "dwp")}}
#: Inputs per agency drawn afresh every run, from a random seed printed with any failure.
FRESH = 100
EXTRACT = date(2026, 11, 1)
REPEATED_KEY = "event key repeated later in the same file"  # the gate's reason (pipeline.ingest.quality)
HEADER_REFUSALS = ("required column(s) missing", "failed expect_table_", "column(s) named twice")  # the same for every input of a header
HOSTILE = ["", " ", "=1+1", "+44 7700 900123", "-2", "@SUM(A1:A9)", '=HYPERLINK("http://x","y")', "\t=1",
           '"', '""', "'", ",", "|", ";", "\r", "\n", "\r\n", "\x00", "\ufeff", "\u202e", "NaN", "NULL", "None",
           "nan", "inf", "-inf", "1e309", "0", "-0", "00/00/0000", "31/02/2020", "29/02/1900", "9999-12-31",
           "0001-01-01", "20261301", "32-Jan-2020", "01-Foo-2020", "1900-02-29", "A" * 3000, "Zoë Łukasz Siobhán",
           "O'Brien-Smith", "SMITH, ", ", John", "../../etc/passwd", "<!DOCTYPE x>", "9" * 40, "2025-XYZ",
           "1.5", "-3", "Y", "N", "y", "\u00a0", "😀"]


def _samples(out: Path) -> dict[str, bytes]:
    from pipeline.generator import generate

    generate(out, households=60, seed=5, bad_files=False)
    return {a: sorted((out / "landing" / a).iterdir())[0].read_bytes() for a in load_agencies()}


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One small real extract per agency, to mutate and to borrow plausible values from."""
    return _samples(tmp_path_factory.mktemp("fuzz-samples"))


def _values(agency: str, sample: bytes) -> dict[str, list[str]]:
    spec = get_agency(agency).file
    if spec.format == "xlsx":
        wb = load_workbook(io.BytesIO(sample), read_only=True, data_only=True)
        rows = [[("" if v is None else str(v)) for v in r] for r in wb[spec.sheet].iter_rows(values_only=True)]
    else:
        rows = list(csv.reader(io.StringIO(sample.decode(spec.encoding).lstrip("\ufeff")), delimiter=spec.delimiter))
    header, body = rows[0], rows[1:]
    return {c: sorted({r[i] for r in body if i < len(r)}) or [""] for i, c in enumerate(header)}


@st.composite
def _cell(draw: st.DrawFn, values: list[str]) -> str:
    """Mostly a plausible value for the column, sometimes a hostile one, now and then any text."""
    kind = draw(st.integers(0, 19))
    if kind < 15:
        return values[draw(st.integers(0, len(values) - 1))]
    if kind < 19:
        return HOSTILE[draw(st.integers(0, len(HOSTILE) - 1))]
    return draw(st.text(max_size=20))


@st.composite
def _structured(draw: st.DrawFn, agency: str, values: dict[str, list[str]]) -> bytes:
    """A file that follows the layout, with hostile values (and now and then a damaged header)."""
    spec = get_agency(agency).file
    header = list(values)
    if draw(st.integers(0, 29)) == 0:
        header = draw(st.permutations(header))[: draw(st.integers(1, len(header)))]
        header += draw(st.lists(st.sampled_from(["Extra", "", header[0]]), max_size=2))
    rows = [[draw(_cell(values.get(c, [""]))) for c in header] for _ in range(draw(st.integers(0, 4)))]
    if spec.format == "xlsx":
        return _workbook(spec.sheet, header, rows, draw(st.booleans()))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=spec.delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    if draw(st.booleans()) and spec.encoding.startswith("utf"):
        text = "\ufeff" + text
    return text.encode(spec.encoding, errors="replace")


def _workbook(sheet: str, header: list[str], rows: list[list[str]], typed: bool) -> bytes:
    """Cells as text, or typed as Excel would type them (dates, numbers, booleans)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(header)
    for row in rows:
        ws.append([_typed(v) if typed else ILLEGAL_CHARACTERS_RE.sub("", v) for v in row])  # Excel cannot hold them
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _typed(value: str) -> object:
    for parse in (lambda v: datetime.strptime(v, "%Y-%m-%d"), int, float):
        try:
            number = parse(value)
            return number if not isinstance(number, float) or np.isfinite(number) else value
        except (ValueError, OverflowError):
            continue
    return {"TRUE": True, "FALSE": False}.get(value, ILLEGAL_CHARACTERS_RE.sub("", value))


@st.composite
def _mutated(draw: st.DrawFn, sample: bytes) -> bytes:
    """A real extract with bytes flipped, inserted, deleted or the file cut short."""
    data = bytearray(sample)
    body = sample.find(b"\n") + 1 if sample.find(b"\n") > 0 and not sample.startswith(b"PK") else 0
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        start = 0 if draw(st.integers(0, 19)) == 0 else min(body, len(data) - 1)  # mostly after the header
        at = draw(st.integers(start, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut", "duplicate"]))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at: at + draw(st.integers(1, 16))]
        elif op == "cut":
            del data[at:]
        else:
            data[at:at] = data[at: at + draw(st.integers(1, 64))]
    return bytes(data)


class Harness:
    """Runs inputs through the ingest checks and records how each one ended."""

    def __init__(self, agency: str, folder: Path):
        self.agency = get_agency(agency)
        self.folder = folder / agency
        self.folder.mkdir(parents=True, exist_ok=True)
        self.name = parse_file_name(f"{agency}_{EXTRACT:%Y%m%d}.{self.agency.file.extension}", self.agency)
        self.outcomes: Counter[str] = Counter()
        self.readable: list[tuple[int, bytes, pd.DataFrame]] = []
        self.tried = 0

    def read(self, data: bytes) -> None:
        """Name, path and size checks, then the reader: a refusal must say why."""
        self.tried += 1
        path = self.folder / f"{self.agency.name}_{EXTRACT:%Y%m%d}.{self.agency.file.extension}"
        path.write_bytes(data)
        try:
            check_path(path, self.agency)
            check_limits(path, self.agency)
            frame = pd.concat(list(read_extract(path, self.agency)), ignore_index=True)
        except ExtractError as exc:
            assert str(exc).strip(), "a refusal needs a reason"
            self.outcomes["refused by the reader"] += 1
            return
        self.readable.append((self.tried, data, frame))

    def gate(self) -> None:
        """The gate and canonical mapping, once per header over every input that read cleanly.

        The gate judges a row by its own values and a file's columns by its header, so one call
        over a header's inputs gives each row its verdict, except a repeated event key, which
        ingest holds only within one file: the combined call's repeats across inputs are taken
        back and each input's own repeats held, as ingest would.
        """
        by_header: dict[tuple[str, ...], list[tuple[int, bytes, pd.DataFrame]]] = {}
        for item in self.readable:
            by_header.setdefault(tuple(item[2].columns), []).append(item)
        for group in by_header.values():
            self._judge(group)

    def _judge(self, group: list[tuple[int, bytes, pd.DataFrame]]) -> None:
        frames = [f for _, _, f in group]
        sizes = [len(f) for f in frames]
        combined = pd.concat(frames, ignore_index=True)
        try:
            reasons = self._reasons(combined, np.repeat(np.arange(len(group)), sizes))
        except RefusedFile as exc:
            assert exc.reason.strip()
            if len(group) > 1 and not exc.reason.startswith(HEADER_REFUSALS):  # about values: judge each alone
                for item in group:
                    self._judge([item])
                return
            self.outcomes["refused by the gate"] += len(group)
            return
        keep = np.zeros(len(combined), dtype=bool)
        at = 0
        for why in np.split(reasons.to_numpy(), np.cumsum(sizes)[:-1]):
            bad = why != ""
            if bad.mean() > max_bad_share():
                self.outcomes["refused: too many bad rows"] += 1
            else:
                self.outcomes["held back rows" if bad.any() else "loaded"] += 1
                keep[at: at + len(why)] = ~bad
            at += len(why)
        self._canonical(combined[keep], group)

    def _reasons(self, combined: pd.DataFrame, source: np.ndarray) -> pd.Series:
        """Each row's reasons as ingest gives them when each input is a file of its own."""
        reasons = check_chunk(self.agency, combined, self.name.extract_date).reasons
        key = list(self.agency.event_key)
        across = combined.duplicated(key, keep="last").to_numpy()
        within = combined.assign(_input=source).duplicated([*key, "_input"], keep="last").to_numpy()
        assert reasons[across].str.endswith(REPEATED_KEY).all(), "the gate's repeated-key reason changed"
        taken_back = reasons.str.removesuffix(REPEATED_KEY).str.removesuffix("; ")
        return taken_back.where(~within, reasons)

    def _canonical(self, rows: pd.DataFrame, group: list) -> None:
        if rows.empty:  # ingest maps only files with rows to load
            return
        try:
            canonical_frames(self.agency, rows, 1, 2026110101, self.name.extract_date)
        except Exception:  # find the input that breaks it, for the failure message
            for index, data, frame in group:
                try:
                    canonical_frames(self.agency, frame, 1, 2026110101, self.name.extract_date)
                except Exception as exc:
                    raise AssertionError(f"input {index} ({data[:300]!r}) breaks the canonical mapping") from exc
            raise


def _strategy(agency: str, sample: bytes) -> st.SearchStrategy[bytes]:
    values = _values(agency, sample)
    kinds = [_structured(agency, values)] * 14 + [_mutated(sample)] * 5 + [st.binary(max_size=400)]
    return st.one_of(*kinds)


def _fuzz(harness: Harness, strategy: st.SearchStrategy[bytes], examples: int, seed: int | None) -> int:
    """Feed Hypothesis's inputs to the harness: the fixed corpus (no seed) or a sample drawn
    from ``seed``. Returns how many inputs Hypothesis actually ran."""
    before = harness.tried

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
              suppress_health_check=list(HealthCheck))
    @given(data=strategy)
    def read_one(data: bytes) -> None:
        harness.read(data)

    (read_one if seed is None else hypothesis_seed(seed)(read_one))()
    return harness.tried - before


@pytest.mark.slow
@pytest.mark.parametrize("agency", sorted(EXAMPLES))
def test_fuzzed_extracts_end_as_load_hold_or_refusal(agency: str, samples: dict[str, bytes], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     request: pytest.FixtureRequest) -> None:
    """The fixed corpus, then a fresh random sample (``pytest --hypothesis-seed=N`` replays one)."""
    monkeypatch.setenv("FAMILYHUB_MAX_BAD_SHARE", "0.5")  # small files: let hostile rows be held, not refused
    given_seed = request.config.getoption("--hypothesis-seed")
    seed = int(given_seed) if given_seed is not None else random.SystemRandom().getrandbits(32)
    print(f"{agency}: fresh sample seed {seed}")
    harness = Harness(agency, tmp_path)
    strategy = _strategy(agency, samples[agency])
    try:
        fixed = _fuzz(harness, strategy, EXAMPLES[agency], None)
        fresh = _fuzz(harness, strategy, FRESH, seed)
        harness.gate()
    except BaseException as exc:
        exc.add_note(f"inputs: the fixed corpus and a fresh sample of seed {seed}; replay with "
                     f"pytest --hypothesis-seed={seed} '{request.node.nodeid}'")
        raise
    print(f"{agency}: {fixed} fixed + {fresh} fresh inputs: {dict(harness.outcomes)}")
    assert sum(harness.outcomes.values()) == harness.tried == fixed + fresh  # every input ended one way
    # Hypothesis may stop a little short of max_examples (an input it cannot draw is not run)
    assert fixed >= EXAMPLES[agency] * 0.9 and fresh >= FRESH * 0.9
    assert harness.outcomes["loaded"] > 0 and harness.outcomes["held back rows"] > 0  # not all refused


@pytest.mark.parametrize("agency", ["police", "housing"])
def test_the_harness_judges_each_input_as_a_file_of_its_own(agency: str, samples: dict[str, bytes],
                                                             tmp_path: Path) -> None:
    """Two deliveries of the same extract share every event key: each loads, as it would alone."""
    harness = Harness(agency, tmp_path)
    harness.read(samples[agency])
    harness.read(samples[agency])
    harness.gate()
    assert harness.outcomes == Counter({"loaded": 2})


# -- names and size limits -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../police_20260901.csv", "..\\..\\police_20260901.csv", "police_2026\x000901.csv",
                                  ".police_20260901.csv", "police_20260901.csv\n"])
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "landing" / "police"
    folder.mkdir(parents=True)
    with pytest.raises(UnsafePath):
        check_path(folder / name, get_agency("police"))


def test_links_devices_and_other_folders_are_refused_unread(tmp_path: Path) -> None:
    from pipeline.ingest.load import ingest_file

    police = get_agency("police")
    folder = tmp_path / "landing" / "police"
    folder.mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the hub")
    (folder / "police_20260901.csv").symlink_to(secret)
    (folder / "police_20260902.csv").symlink_to("/dev/zero")
    os.mkfifo(folder / "police_20260903.csv")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "police_20260904.csv").write_text("x")
    for path in [*sorted(folder.iterdir()), tmp_path / "elsewhere" / "police_20260904.csv"]:
        outcome = ingest_file(None, path, police, tmp_path / "quarantine")  # refused before the warehouse
        assert outcome.status == "refused" and outcome.file_id is None and outcome.reason
    assert not (tmp_path / "quarantine").exists()  # nothing copied


def _bomb(path: Path, inflated: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            block = b"<row/>" * 100_000
            for _ in range(inflated // len(block)):
                fh.write(block)


def test_zip_bombs_and_oversized_files_are_refused_before_parsing(tmp_path: Path) -> None:
    housing, police = get_agency("housing"), get_agency("police")
    bomb = tmp_path / "housing" / "housing_20260901.xlsx"
    bomb.parent.mkdir()
    _bomb(bomb, 60 << 20)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(ExtractError, match="zip bomb"):
        check_limits(bomb, housing)
    with pytest.raises(ExtractError, match="uncompressed"):
        check_limits(bomb, housing, Limits(xlsx_uncompressed_bytes=10 << 20, xlsx_ratio=10**6))
    wb = Workbook()
    wb.active.title = "Extract"
    wb.active["A1"] = "TenancyRef"
    wb.active["B1048576"] = "x"  # a sheet that says it has a million rows
    declared = tmp_path / "housing" / "housing_20260902.xlsx"
    wb.save(declared)
    with pytest.raises(ExtractError, match="declares 1,048,576 rows"):
        check_limits(declared, housing, Limits(rows=100_000))
    dtd = tmp_path / "housing" / "housing_20260903.xlsx"
    with zipfile.ZipFile(dtd, "w") as zf:
        zf.writestr("xl/workbook.xml", '<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol">]><workbook/>')
    with pytest.raises(ExtractError, match="DTD"):
        check_limits(dtd, housing)
    big = tmp_path / "police" / "police_20260901.csv"
    big.parent.mkdir()
    big.write_text("OccurrenceRef,NominalId\n" + "a,b\n" * 5000)
    for limits, words in ((Limits(file_bytes=1000), "bytes, more than"), (Limits(rows=100), "rows, more than"),
                          (Limits(cells=1000), "cells, more than")):
        with pytest.raises(ExtractError, match=words):
            check_limits(big, police, limits)
    check_limits(big, police)  # within the defaults


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAMILYHUB_MAX_ROWS", "123")
    monkeypatch.setenv("FAMILYHUB_MAX_XLSX_RATIO", "50")
    assert (Limits.from_env().rows, Limits.from_env().xlsx_ratio, Limits.from_env().cells) == (123, 50, Limits().cells)


def test_an_oversized_file_is_refused_and_quarantined(warehouse, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.ingest.load import ingest_file

    monkeypatch.setenv("FAMILYHUB_MAX_FILE_BYTES", "100")
    path = tmp_path / "landing" / "police" / "police_20260901.csv"
    path.parent.mkdir(parents=True)
    path.write_text("OccurrenceRef,NominalId\n" + "a,b\n" * 100)
    outcome = ingest_file(warehouse, path, get_agency("police"), tmp_path / "quarantine")
    assert outcome.status == "refused" and "FAMILYHUB_MAX_FILE_BYTES" in outcome.reason
    assert Path(outcome.report_path).exists()
    assert warehouse.read("select status from ops.files")["status"].tolist() == ["refused"]


# -- exports -------------------------------------------------------------------------------------
@given(st.lists(st.one_of(st.text(max_size=20), st.sampled_from(HOSTILE), st.integers(-5, 5),
                          st.floats(allow_nan=False, allow_infinity=False)), min_size=1, max_size=30))
@settings(max_examples=300, deadline=None, database=None)
def test_exports_never_start_a_cell_with_a_formula(values: list) -> None:
    frame = pd.DataFrame({"value": pd.Series(values, dtype=object), "=bad header": 1})
    rows = list(csv.reader(io.StringIO(write_csv(frame))))
    assert rows[0] == ["value", "'=bad header"]
    for sent, (got, _) in zip(values, rows[1:], strict=True):
        if isinstance(sent, str):
            assert got == safe_cell(sent) and not got.startswith(("=", "+", "-", "@", "\t", "\r"))
        else:
            assert float(got) == pytest.approx(sent)  # numbers stay numbers, negative ones too


def test_xlsx_exports_hold_text_not_formulas(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": ["=cmd|' /C calc'!A0", "@SUM(1)", "Smith", "-1+2"], "amount": [-5, 1, 2, 3]})
    path = tmp_path / "export.xlsx"
    write_xlsx(frame, path)
    cells = list(load_workbook(path).active.iter_rows(min_row=2))
    assert [c[0].data_type for c in cells] == ["s"] * 4
    assert [c[0].value for c in cells] == ["'=cmd|' /C calc'!A0", "'@SUM(1)", "Smith", "'-1+2"]
    assert [c[1].value for c in cells] == [-5, 1, 2, 3]
