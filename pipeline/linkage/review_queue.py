"""Clerical review in the warehouse: the open queue, a blind CSV round trip, the decision log.

The pure rules (what is queued, what a decision means, how a file is validated) are
:mod:`matching.review`'s; this module reads and writes the tables:

* the queue is ``linked.record_links`` rows with ``status = 'review'``, minus pairs with a
  standing answer in ``linked.review_decisions`` (decisions about any record identical to a
  queued one count: pairs are compared between profile representatives), asked once per pair
  of persons (:func:`matching.review.build_queue` with the last run's persons): pairs inside
  one person and pairs between two persons an answered pair already stands between are left
  out, and of the rest only the strongest pair per two persons is shown;
* exports are blind unless scores are asked for, audited (a reason, and one audit row per
  person and family whose records are in the file) and safe to open in a spreadsheet
  (:func:`pipeline.governance.exports.export_identifiable`: a cell starting with ``=``, ``+``, ``-``,
  ``@``, tab or carriage return gets a leading apostrophe); the import takes it off record
  keys again;
* imports are validated as a whole (every problem named by line and field) and appended to
  the log; a row that would not change the pair's standing answer is not appended, so
  importing a file twice is a no-op;
* ``undo`` withdraws a pair's standing answer; the pair is queued again if it is still
  uncertain.

Decisions bind the next ``familyhub link`` (:func:`pipeline.linkage.link.bind_decisions`).

:func:`explain_pair` answers the reviewer's and the caseworker's next question, why two records
were (or were not) linked: the waterfall of the stored levels under the model of the run that
scored them, or, for a pair never scored, the pair scored now with the latest saved model.
"""

from __future__ import annotations

import io
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matching.explain import waterfall
from matching.matcher import Matcher, MatchSettings
from matching.review import (
    DECISION_COLUMNS,
    REVIEW_FIELDS,
    build_queue,
    current_decisions,
    export_queue,
    read_decisions,
)
from pipeline.governance.exports import FORMULA_STARTS, export_identifiable
from pipeline.linkage.link import saved_model
from pipeline.warehouse.engine import Warehouse

__all__ = [
    "Explanation",
    "Imported",
    "decision_log",
    "explain_pair",
    "export_review",
    "import_decisions",
    "mention_details",
    "open_queue",
    "record_decision",
    "restore_keys",
    "subjects_of",
    "undo_decision",
]

_KEY_COLUMNS = ["agency_l", "record_key_l", "agency_r", "record_key_r"]


@dataclass(frozen=True)
class Imported:
    """Outcome of an import: rows appended to the log, and rows that changed nothing."""

    added: int
    unchanged: int


def decision_log(wh: Warehouse) -> pd.DataFrame:
    """``linked.review_decisions`` in the order the answers were given."""
    cols = ", ".join(DECISION_COLUMNS)
    return wh.read(f"select {cols} from linked.review_decisions order by decided_at")


def mention_details(
    wh: Warehouse, mention_ids: Collection[str], fields: Collection[str] = REVIEW_FIELDS
) -> pd.DataFrame:
    """Identifying details of some mentions (``mention_id`` + ``fields``), dates as text."""
    ids = pd.DataFrame({"mention_id": pd.Series(list(mention_ids), dtype=object).unique()})
    cols = ", ".join(f"m.{f}" for f in ["mention_id", "agency", *fields])
    with wh.begin() as conn, wh.staged(conn, "_fh_ids", ids):
        found = wh.read(
            f"select {cols} from staging.person_mentions m join _fh_ids i on i.mention_id = m.mention_id",
            conn=conn,
        )
    found["dob"] = pd.to_datetime(found["dob"]).dt.strftime("%Y-%m-%d")
    return found


def subjects_of(wh: Warehouse, mention_ids: Collection[str]) -> pd.DataFrame:
    """The person and family of each linked record (``person_id``, ``family_id``), for the audit log."""
    ids = pd.DataFrame({"mention_id": pd.Series(list(mention_ids), dtype=object).unique()})
    with wh.begin() as conn, wh.staged(conn, "_fh_ids", ids):
        return wh.read(
            "select distinct p.person_id, f.family_id from linked.mention_person p "
            "join _fh_ids i on i.mention_id = p.mention_id "
            "left join linked.person_family f on f.person_id = p.person_id",
            conn=conn,
        )


def _profile_map(wh: Warehouse) -> pd.Series:
    """Mention id -> the representative of its profile (identical records, as the matcher sees them)."""
    mentions = wh.read("select * from staging.person_mentions order by mention_id")
    if mentions.empty:
        return pd.Series(dtype=object)
    profiles = Matcher().profiles(mentions)
    return pd.Series(profiles.representative[profiles.of_mention], index=profiles.mention_ids)


def open_queue(wh: Warehouse, *, requeue_unsure: bool = False) -> pd.DataFrame:
    """Uncertain pairs still waiting for a person, most likely matches first.

    Returns:
        ``mention_id_l, mention_id_r, match_weight, match_probability, run_id`` per pair.
    """
    uncertain = wh.read(
        "select mention_id_l, mention_id_r, match_weight, match_probability, run_id "
        "from linked.record_links where status = 'review'"
    )
    if uncertain.empty:
        return uncertain
    persons = wh.read("select mention_id, person_id from linked.mention_person")
    return build_queue(
        uncertain, decision_log(wh), profiles=_profile_map(wh),
        persons=persons.set_index("mention_id")["person_id"], requeue_unsure=requeue_unsure,
    )


def restore_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Take the export's formula guard (a leading apostrophe) off the record-key columns (a
    filled-in sheet's records are found again by these keys)."""
    out = frame.copy()
    for col in _KEY_COLUMNS:
        if col in out:
            escaped = out[col].str.startswith("'") & out[col].str[1:].str.startswith(FORMULA_STARTS)
            out[col] = out[col].mask(escaped, out[col].str[1:])
    return out


def export_review(
    wh: Warehouse, out: str | Path, *, who: str, reason: str | None, with_scores: bool = False,
    requeue_unsure: bool = False,
) -> int:
    """Write the open queue as a CSV for reviewers (blind unless ``with_scores``), audited.

    Returns:
        The number of pairs written.

    Raises:
        pipeline.governance.audit.AuditError: no reason given; nothing is written.
    """
    queue = open_queue(wh, requeue_unsure=requeue_unsure)
    mention_ids = np.r_[queue["mention_id_l"], queue["mention_id_r"]]
    if queue.empty:
        sheet = pd.DataFrame(columns=[*_KEY_COLUMNS, *DECISION_COLUMNS[4:]])
    else:
        text = export_queue(queue, mention_details(wh, mention_ids), with_scores=with_scores)
        sheet = pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False)
        if with_scores:
            sheet["match_weight"] = queue["match_weight"].round(2).to_numpy()
    export_identifiable(wh, sheet, out, who=who, reason=reason, what=f"review queue, {len(queue)} pair(s)",
                        subjects=subjects_of(wh, mention_ids))
    return len(queue)


def _canonical_key(frame: pd.DataFrame) -> pd.MultiIndex:
    left = (frame["agency_l"] + "|" + frame["record_key_l"]).to_numpy(dtype=object)
    right = (frame["agency_r"] + "|" + frame["record_key_r"]).to_numpy(dtype=object)
    swap = left > right
    return pd.MultiIndex.from_arrays([np.where(swap, right, left), np.where(swap, left, right)])


def _changes(new: pd.DataFrame, log: pd.DataFrame) -> np.ndarray:
    """Which new rows change a pair's standing answer (the rest are repeats: not logged)."""
    key = _canonical_key(new)
    standing = current_decisions(log).set_index(["mention_id_l", "mention_id_r"])
    answer = standing["decision"].reindex(key).to_numpy(dtype=object)
    who = standing["decided_by"].reindex(key).to_numpy(dtype=object)
    decision, by = new["decision"].to_numpy(dtype=object), new["decided_by"].to_numpy(dtype=object)
    repeat = (answer == decision) & (who == by)
    nothing_to_undo = (decision == "undo") & pd.isna(answer)
    columns = [*_KEY_COLUMNS, "decision", "decided_by", "decided_at"]
    logged = pd.MultiIndex.from_frame(
        log[columns].assign(decided_at=pd.to_datetime(log["decided_at"], utc=True))
    )
    seen = pd.MultiIndex.from_frame(new[columns]).isin(logged) if len(log) else False
    first = ~pd.DataFrame(
        {"l": key.get_level_values(0), "r": key.get_level_values(1), "d": decision, "b": by}
    ).duplicated().to_numpy()
    return ~(repeat | nothing_to_undo | seen) & first


def _append(wh: Warehouse, new: pd.DataFrame) -> Imported:
    with wh.begin() as conn:
        log = wh.read(
            f"select {', '.join(DECISION_COLUMNS)} from linked.review_decisions", conn=conn
        )
        fresh = _changes(new, log)
        rows = new[fresh].assign(
            decided_at=lambda f: f["decided_at"].dt.tz_convert("UTC").dt.tz_localize(None),
            note=lambda f: f["note"].mask(f["note"] == ""),
        )
        wh.insert(conn, "linked.review_decisions", rows[DECISION_COLUMNS])
    return Imported(added=int(fresh.sum()), unchanged=int((~fresh).sum()))


def import_decisions(
    wh: Warehouse, path: str | Path, *, by: str | None = None, now: pd.Timestamp | None = None
) -> Imported:
    """Validate a filled-in review CSV and append its answers to ``linked.review_decisions``.

    Args:
        path: the CSV (as :func:`export_review` wrote it; extra columns are ignored).
        by: reviewer recorded on rows whose ``decided_by`` is blank.
        now: time recorded on rows whose ``decided_at`` is blank (default: the import time).

    Raises:
        matching.review.DecisionImportError: every problem, by line and field; nothing is logged.
    """
    with open(path, encoding="utf-8-sig", newline="") as handle:
        sheet = pd.read_csv(handle, dtype=str, keep_default_na=False)
    sheet.columns = sheet.columns.str.strip()
    if by:
        column = sheet["decided_by"] if "decided_by" in sheet else pd.Series("", index=sheet.index)
        sheet["decided_by"] = column.mask(column.str.strip() == "", by)
    known = wh.read("select mention_id from staging.person_mentions")["mention_id"]
    new = read_decisions(
        io.StringIO(restore_keys(sheet).to_csv(index=False)),
        decided_at=now if now is not None else pd.Timestamp.now(tz="UTC"),
        known_mention_ids=known,
    )
    return _append(wh, new)


DECISIONS = ("match", "non-match", "unsure", "undo")


def record_decision(
    wh: Warehouse, mention_a: str, mention_b: str, decision: str, *, by: str, note: str = "",
    now: pd.Timestamp | None = None,
) -> Imported:
    """Append one answer on a pair of records (``agency|record_key`` each), as a reviewer gives
    it on screen; like an imported row, it binds from the next ``familyhub link``.

    Returns:
        ``added == 0`` when it changes nothing (the same answer by the same reviewer, or
        ``undo`` of a pair without a standing answer).
    """
    if decision not in DECISIONS:
        raise ValueError(f"decision '{decision}': one of {', '.join(DECISIONS)}")
    if not by.strip():
        raise ValueError("say who decides")
    (agency_l, key_l), (agency_r, key_r) = (m.split("|", 1) for m in (mention_a, mention_b))
    row = pd.DataFrame([{
        "agency_l": agency_l, "record_key_l": key_l, "agency_r": agency_r, "record_key_r": key_r,
        "decision": decision, "decided_by": by.strip(), "note": note,
        "decided_at": now if now is not None else pd.Timestamp.now(tz="UTC"),
    }])
    return _append(wh, row)


def undo_decision(
    wh: Warehouse, mention_a: str, mention_b: str, *, by: str, note: str = "",
    now: pd.Timestamp | None = None,
) -> Imported:
    """Withdraw the standing answer for a pair (the latest one wins, so this appends ``undo``).

    Returns:
        ``added == 0`` when the pair had no standing answer.
    """
    return record_decision(wh, mention_a, mention_b, "undo", by=by, note=note, now=now)


@dataclass(frozen=True)
class Explanation:
    """Why two records were, or were not, linked.

    Attributes:
        mention_ids: the two records, as asked.
        waterfall: :func:`matching.explain.waterfall` (prior, one row per comparison, total).
        details: the two records' identifying details (:func:`mention_details`).
        status: ``accepted``, ``review`` or ``dropped`` as stored; None if never scored.
        run_id: the run whose model the weights come from.
        stored_weight: the match weight stored for the pair; None if never scored.
        persons: each record's current person id (None before any link run).
        decision: the pair's standing review answer, if any (decision, decided_by, decided_at).
    """

    mention_ids: tuple[str, str]
    waterfall: pd.DataFrame
    details: pd.DataFrame
    status: str | None
    run_id: str | None
    stored_weight: float | None
    persons: tuple[str | None, str | None]
    decision: dict | None


def explain_pair(wh: Warehouse, mention_a: str, mention_b: str) -> Explanation:
    """The waterfall of a pair, from ``linked.record_links`` or scored now with the saved model.

    Raises:
        KeyError: a record is not loaded.
        ValueError: the pair was never scored and no model has been saved (no link run yet).
    """
    pair = (mention_a, mention_b)
    details = mention_details(wh, pair)
    missing = [m for m in pair if m not in set(details["mention_id"])]
    if missing:
        raise KeyError(f"no loaded record {', '.join(missing)} (give agency|record_key)")
    stored = wh.read(
        "select match_weight, status, run_id, explanation from linked.record_links "
        "where mention_id_l = :l and mention_id_r = :r",
        {"l": min(pair), "r": max(pair)},
    )
    comparisons = MatchSettings().comparisons
    if len(stored):
        row = stored.iloc[0]
        model = saved_model(wh, row["run_id"])
        model.check_compatible(comparisons)
        levels = json.loads(row["explanation"])
        index = [list(c.labels).index(levels[c.name][0]) for c in comparisons]
        frame = waterfall(model, comparisons, index)
        status, run_id, weight = row["status"], row["run_id"], float(row["match_weight"])
    else:
        model = saved_model(wh)
        if model is None:
            raise ValueError("the pair was never scored and no model is saved yet: run `familyhub link`")
        mentions = wh.read(
            "select * from staging.person_mentions where mention_id in (:a, :b)",
            {"a": mention_a, "b": mention_b},
        )
        frame = Matcher(model=model).diagnostics.waterfall(mentions, mention_a, mention_b)
        status, weight = None, None
        run_id = wh.scalar(
            "select run_id from linked.runs where model_json is not null order by started_at desc limit 1"
        )
    person = wh.read(
        "select mention_id, person_id from linked.mention_person where mention_id in (:a, :b)",
        {"a": mention_a, "b": mention_b},
    ).set_index("mention_id")["person_id"]
    standing = current_decisions(decision_log(wh))
    answer = standing[(standing["mention_id_l"] == min(pair)) & (standing["mention_id_r"] == max(pair))]
    return Explanation(
        mention_ids=pair,
        waterfall=frame,
        details=details.set_index("mention_id").loc[list(pair)].reset_index(),
        status=status,
        run_id=run_id,
        stored_weight=weight,
        persons=(person.get(mention_a), person.get(mention_b)),
        decision=answer[["decision", "decided_by", "decided_at"]].iloc[0].to_dict() if len(answer) else None,
    )
