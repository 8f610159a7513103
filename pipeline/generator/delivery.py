"""Turning record versions into the files agencies deliver, plus the truth about each row.

Per agency: monthly extracts ending near the as-of date (four by default; the first is the
backfill of everything recorded so far, later ones are deltas), a correction file between the second
and third, sometimes a second file on the last day (``_2``), a byte-for-byte re-send of the
second file under ``resend/``, and deliberately bad files under ``bad/`` that the hub must
refuse. Empty deltas are not written: an agency with nothing new sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.generator.dates import add_months, day
from pipeline.generator.errors import ErrorPlan
from pipeline.generator.events import World
from pipeline.generator.extracts import FORMATS, AgencyFormat, Render, corrupt_rows
from pipeline.generator.noise import NoiseProfile
from pipeline.generator.xlsx import xlsx_bytes

__all__ = ["AgencyDelivery", "PlannedFile", "deliver", "file_bytes", "plan_files"]

BAD_ROW_RATE = 0.002
# Day of the month before the as-of day on which each agency extracts, and who splits days.
EXTRACT_OFFSET = {"police": 1, "yot": 3, "health": 2, "schools": 5, "housing": 4, "socialcare": 6, "dwp": 0}
SECOND_SAME_DAY = ("police", "health")
INTERNAL_KEY = {
    "police": ["ref", "person"], "yot": ["ref"], "health": ["ref"], "schools": ["person", "term"],
    "housing": ["ref", "person"], "socialcare": ["ref"], "dwp": ["ref"],
}
# What each agency's bad files break, and the refusal reason the hub should give.
BAD_FILES = {
    "police": ("bad_name",), "yot": ("empty",), "health": ("undecodable",), "schools": ("header_only",),
    "housing": ("unparseable", "missing_sheet"), "socialcare": ("too_many_bad_rows",), "dwp": ("missing_column",),
}
BAD_DETAIL = {
    "bad_name": "file name does not fit <agency>_YYYYMMDD[_n].<ext> (ISO date with hyphens)",
    "empty": "0-byte file",
    "undecodable": "bytes that are not valid UTF-8 (the rows were saved as Windows-1252)",
    "header_only": "header row and no data rows",
    "unparseable": "xlsx truncated half-way: not a readable zip/workbook",
    "missing_sheet": "workbook has no sheet named 'Extract' (the sheet is 'Sheet1')",
    "too_many_bad_rows": "40% of rows break row rules (dates, codes), above any sane threshold",
    "missing_column": "required column ClaimRef is missing",
}


@dataclass(frozen=True)
class PlannedFile:
    """One file an agency sends: its extract date, same-day number and kind."""

    agency: str
    extract: date
    n: int
    kind: str  # normal, correction, second_same_day

    @property
    def name(self) -> str:
        return FORMATS[self.agency].file_name(self.extract, self.n)


def plan_files(agency: str, as_of: date, extracts: int = 4) -> tuple[list[date], list[PlannedFile]]:
    """Regular extract dates (``extracts`` monthly ones, the last on or just before ``as_of``)
    and every file planned."""
    if extracts < 3:
        raise ValueError("extracts must be at least 3 (a backfill, the correction's month and one more)")
    offset = timedelta(days=EXTRACT_OFFSET[agency])
    regular = [add_months(as_of, -k) - offset for k in range(extracts - 1, -1, -1)]
    files = [PlannedFile(agency, d, 1, "normal") for d in regular]
    files.append(PlannedFile(agency, regular[1] + timedelta(days=9), 1, "correction"))
    if agency in SECOND_SAME_DAY:
        files.append(PlannedFile(agency, regular[-1], 2, "second_same_day"))
    return regular, sorted(files, key=lambda f: (f.extract, f.n))


@dataclass
class AgencyDelivery:
    """What was written for one agency: manifest entries and truth rows."""

    manifest: list[dict]
    truth: pd.DataFrame


def _schedule(events: pd.DataFrame, agency: str, regular: list[date], files: list[PlannedFile], rng: np.random.Generator) -> pd.DataFrame:
    """Assign each version to the extract that first sees it; a file holds one version per key."""
    days = np.array([day(d) for d in regular])
    slot = np.searchsorted(days, events["known"].to_numpy(), side="left")
    rows = events.assign(slot=slot)[slot < len(days)]
    rows = rows.sort_values("known", kind="stable").drop_duplicates(["slot", *INTERNAL_KEY[agency]], keep="last").sort_index()
    index = {(f.extract, f.n): i for i, f in enumerate(files)}
    rows["file"] = np.array([index[regular[s], 1] for s in rows["slot"]], dtype=np.int64)
    if agency in SECOND_SAME_DAY:
        last = np.flatnonzero(rows["slot"].to_numpy() == len(days) - 1)
        late = last[np.argsort(rows["known"].to_numpy()[last], kind="stable")][int(len(last) * 0.8) :]
        rows.iloc[late, rows.columns.get_loc("file")] = index[regular[-1], 2]
    return rows.drop(columns="slot")


def _correct(agency: str, rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Change one field of each re-sent version, as a clerk correcting a record would."""
    r = rows.copy()
    n = len(r)
    if agency == "police":
        flip = {"SUSPECT": "OFFENDER", "OFFENDER": "SUSPECT", "VICTIM": "WITNESS", "WITNESS": "VICTIM", "SUBJECT": "SUSPECT"}
        r["role"] = r["role"].map(flip)
    elif agency == "yot":
        order = ["YOUTH_CAUTION", "YOUTH_CONDITIONAL_CAUTION", "REFERRAL_ORDER", "YOUTH_REHABILITATION_ORDER", "CUSTODY"]
        r["outcome"] = r["outcome"].map(lambda o: order[(order.index(o) + 1) % len(order)])
    elif agency == "health":
        swap = {"AE_ATTENDANCE": "EMERGENCY_ADMISSION", "EMERGENCY_ADMISSION": "AE_ATTENDANCE"}
        moved = ~r["event"].isin(swap)
        r["event"] = r["event"].map(swap).fillna(r["event"])
        r["date"] = r["date"] - moved.astype(int)
    elif agency == "schools":
        r["unauthorised"] += rng.integers(1, 4, n)  # absence coded late
    elif agency == "housing":
        r["arrears"] = np.round(r["arrears"] + rng.uniform(20, 250, n), 2)
    elif agency == "socialcare":
        categories = ["NEGLECT", "EMOTIONAL", "PHYSICAL", "SEXUAL", "MULTIPLE"]
        early = r["type"] == "EARLY_HELP"
        r["category"] = np.where(early, r["category"], [categories[(categories.index(c) + 1) % 5] if c else "NEGLECT" for c in r["category"]])
        r["start"] = np.where(early, r["start"] - 7, r["start"])
    else:
        r["start"] = r["start"] - rng.integers(1, 15, n)
    return r


def _add_corrections(rows: pd.DataFrame, agency: str, files: list[PlannedFile], rng: np.random.Generator) -> pd.DataFrame:
    """Re-send ~0.4% of the versions sent before the correction file, each with a changed field.

    Only keys that no later regular file sends again are corrected, so the correction is the
    version that must survive.
    """
    target = next(i for i, f in enumerate(files) if f.kind == "correction")
    key = INTERNAL_KEY[agency]
    later = rows[rows["file"] > target].set_index(key).index
    earlier = rows[(rows["file"] < target) & ~rows.set_index(key).index.isin(later)]
    if earlier.empty:
        return rows
    n = int(np.clip(round(len(earlier) * 0.004), 1, 500))
    chosen = earlier.sort_values("known", kind="stable").drop_duplicates(key, keep="last")
    chosen = chosen.iloc[np.sort(rng.choice(len(chosen), size=min(n, len(chosen)), replace=False))]
    fixed = _correct(agency, chosen, rng).assign(file=target, known=day(files[target].extract))
    return pd.concat([rows, fixed], ignore_index=True)


def _bad_row_counts(sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """~0.2% of rows per file, at least one in the agency's largest file, never near the refusal line."""
    counts = np.minimum(rng.binomial(sizes, BAD_ROW_RATE), sizes // 20)
    if len(sizes) and counts.sum() == 0 and sizes.max() >= 50:
        counts[np.argmax(sizes)] = 1
    return counts


DATE_CELLS = ("DateOfBirth", "TenancyStart", "TenancyEnd", "ASBComplaintDate")


def file_bytes(fmt: AgencyFormat, table: pd.DataFrame, extract: date, sheet: str = "Extract") -> bytes:
    """The file exactly as the agency would send it."""
    if fmt.extension == "xlsx":
        return xlsx_bytes(table, DATE_CELLS, extract, sheet, creator="Housing management system")
    text = table.to_csv(index=False, sep=fmt.delimiter, lineterminator=fmt.line_terminator)
    return text.encode(fmt.encoding)


def _bad_file(reason: str, fmt: AgencyFormat, sample: pd.DataFrame, when: date, rng: np.random.Generator, as_of: int) -> tuple[str, bytes, int]:
    """(file name, bytes, data rows) of one deliberately bad file."""
    name = fmt.file_name(when)
    if reason == "bad_name":
        return f"{fmt.name}_{when:%Y-%m-%d}.{fmt.extension}", file_bytes(fmt, sample, when), len(sample)
    if reason == "empty":
        return name, b"", 0
    if reason == "header_only":
        return name, file_bytes(fmt, sample.iloc[:0], when), 0
    if reason == "undecodable":
        sample = sample.copy()
        sample.iloc[0, sample.columns.get_loc("GivenName")] = "Zoë"  # health is the agency with this fault
        text = sample.to_csv(index=False, sep=fmt.delimiter, lineterminator=fmt.line_terminator)
        return name, text.encode("cp1252", errors="replace"), len(sample)
    if reason == "unparseable":
        raw = file_bytes(fmt, sample, when)
        return name, raw[: len(raw) // 2], len(sample)
    if reason == "missing_sheet":
        return name, file_bytes(fmt, sample, when, sheet="Sheet1"), len(sample)
    if reason == "missing_column":
        return name, file_bytes(fmt, sample.drop(columns="ClaimRef"), when), len(sample)
    sample = sample.copy()
    broken = np.sort(rng.choice(len(sample), size=max(1, int(len(sample) * 0.4)), replace=False))
    corrupt_rows(fmt, sample, broken, rng, as_of)
    return name, file_bytes(fmt, sample, when), len(sample)


def deliver(
    w: World, agency: str, events: pd.DataFrame, out: Path, as_of: date, profile: NoiseProfile,
    rng: np.random.Generator, agency_seed: int, bad_files: bool, extracts: int = 4,
    plan: ErrorPlan | None = None,
) -> AgencyDelivery:
    """Write the agency's landing files (and resend/bad copies); return manifest and truth."""
    fmt = FORMATS[agency]
    regular, files = plan_files(agency, as_of, extracts)
    rows = _add_corrections(_schedule(events, agency, regular, files, rng), agency, files, rng)
    rows = rows.sort_values("file", kind="stable").reset_index(drop=True)
    table = fmt.render(Render(w, rng, profile, rows, agency_seed, plan or ErrorPlan()))
    file_of = rows["file"].to_numpy()
    sizes = np.bincount(file_of, minlength=len(files))
    reasons = np.full(len(rows), "", dtype=object)
    if bad_files:
        counts = _bad_row_counts(sizes, rng)
        starts = np.cumsum(sizes) - sizes
        broken = np.concatenate([s + np.sort(rng.choice(z, size=c, replace=False)) for s, z, c in zip(starts, sizes, counts, strict=True)])
        reasons[broken] = corrupt_rows(fmt, table, broken.astype(int), rng, day(as_of))
    key = table[fmt.key[0]].astype(str)
    for column in fmt.key[1:]:
        key = key + "|" + table[column].astype(str)

    folder = out / "landing" / agency
    folder.mkdir(parents=True, exist_ok=True)
    manifest, written = [], {}
    for i, planned in enumerate(files):
        part = file_of == i
        if not part.any():
            continue
        data = file_bytes(fmt, table[part], planned.extract)
        (folder / planned.name).write_bytes(data)
        written[i] = data
        manifest.append({
            "path": f"landing/{agency}/{planned.name}", "agency": agency, "extract_date": planned.extract.isoformat(),
            "kind": planned.kind, "rows": int(part.sum()), "bad_rows": int((reasons[part] != "").sum()),
            "encoding": fmt.encoding or "xlsx", "refusal": None,
        })
    # Re-send the first delta (small); the backfill only when there is no delta.
    deltas = [i for i in written if files[i].kind == "normal" and files[i].extract > regular[0]]
    resend = deltas[0] if deltas else next(iter(written), None)
    if resend is not None:
        (out / "resend" / agency).mkdir(parents=True, exist_ok=True)
        (out / "resend" / agency / files[resend].name).write_bytes(written[resend])
        manifest.append({
            "path": f"resend/{agency}/{files[resend].name}", "agency": agency, "extract_date": files[resend].extract.isoformat(),
            "kind": "resend", "rows": int(sizes[resend]), "bad_rows": int((reasons[file_of == resend] != "").sum()),
            "encoding": fmt.encoding or "xlsx", "refusal": None, "resends": f"landing/{agency}/{files[resend].name}",
        })
    if bad_files:
        clean = table[reasons == ""]
        last = clean[file_of[reasons == ""] == file_of.max()] if len(table) else clean
        sample = (last if len(last) else clean).head(200)
        for k, reason in enumerate(BAD_FILES[agency]):
            if sample.empty and reason not in ("empty", "header_only"):
                continue  # an area too small to have this agency's rows
            name, data, n_rows = _bad_file(reason, fmt, sample, regular[2] + timedelta(days=3 + k), rng, day(as_of))
            (out / "bad" / agency).mkdir(parents=True, exist_ok=True)
            (out / "bad" / agency / name).write_bytes(data)
            manifest.append({
                "path": f"bad/{agency}/{name}", "agency": agency, "extract_date": (regular[2] + timedelta(days=3 + k)).isoformat(),
                "kind": "bad", "rows": n_rows, "bad_rows": None, "encoding": fmt.encoding or "xlsx",
                "refusal": {"reason": reason, "detail": BAD_DETAIL[reason]},
            })
    truth = pd.DataFrame(
        {
            "agency": agency,
            "file_name": np.array([f.name for f in files], dtype=object)[file_of],
            "record_key": key.to_numpy(),
            "person": rows["person"].to_numpy(),
            "bad_row_reason": reasons,
        }
    )
    return AgencyDelivery(manifest, truth)
