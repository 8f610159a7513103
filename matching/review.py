"""Clerical review of uncertain pairs, as pure logic: queue, CSV round trip, binding decisions.

Pairs whose match weight falls in the uncertain band are shown to a person.
What the peers' users asked for (Splink PR #1208, dedupe #626, #887) shapes
the rules here:

* reviewing is **blind**: the export carries no weights unless asked;
* ``unsure`` is an answer, ``undo`` withdraws the latest answer for a pair;
* a decided pair is never queued again, in this run or any later one;
* who decided and when are kept, so the decisions double as labelled
  evaluation data;
* decisions are keyed by ``(agency, record_key)`` pairs, which outlive any
  run's person ids, and they **bind**: ``match`` forces a link, ``non-match``
  forbids one (a cannot-link constraint for clustering).

The decision log is append-only; the latest answer per unordered pair wins.
Person linkage deduplicates identical records into profiles and reports
pairs between representative mentions, so every function here takes an
optional ``profiles`` map (mention id -> representative mention id) that
lets a decision about any mention of a profile apply to the profile.
"""

from __future__ import annotations

import io
from collections.abc import Collection
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from matching.state import MENTION_FIELDS

__all__ = [
    "DECISIONS",
    "DECISION_COLUMNS",
    "REVIEW_FIELDS",
    "DecisionImportError",
    "bind_links",
    "build_queue",
    "cannot_link",
    "current_decisions",
    "export_queue",
    "must_link",
    "read_decisions",
    "record_decisions",
    "violations",
]

#: Answers a reviewer may give; ``undo`` withdraws the pair's latest answer.
DECISIONS = ("match", "non-match", "unsure", "undo")
_ALIASES = {"non_match": "non-match", "non match": "non-match", "nonmatch": "non-match"}

#: Columns of the decision log (and of :func:`read_decisions`' result).
DECISION_COLUMNS = [
    "agency_l",
    "record_key_l",
    "agency_r",
    "record_key_r",
    "decision",
    "decided_by",
    "decided_at",
    "note",
]
_KEY_COLUMNS = DECISION_COLUMNS[:4]
_REQUIRED_IMPORT = [*_KEY_COLUMNS, "decision", "decided_by"]

#: Mention fields shown to the reviewer for each side of a pair, when present: what the
#: matcher compares, less the agency and its own person id (shown as the record itself).
REVIEW_FIELDS = MENTION_FIELDS[2:]


class DecisionImportError(ValueError):
    """A decisions file that cannot be accepted; ``problems`` names each row and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"decisions file refused ({len(problems)} problem(s)):\n{shown}{more}")


# -- pairs -------------------------------------------------------------------------------


def _mention_ids(agency: pd.Series, record_key: pd.Series) -> np.ndarray:
    return (agency.astype(str) + "|" + record_key.astype(str)).to_numpy(dtype=object)


def _split(mention_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``agency|record_key`` -> (agency, record_key); the record key may itself hold ``|``."""
    parts = pd.Series(mention_ids, dtype=object).str.split("|", n=1, expand=True)
    return parts[0].to_numpy(dtype=object), parts[1].to_numpy(dtype=object)


def _canonical(
    left: np.ndarray, right: np.ndarray, profiles: pd.Series | None
) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pair as (smaller, larger) mention id, after mapping to profile representatives."""
    if profiles is not None:
        left = pd.Series(left).map(profiles).fillna(pd.Series(left)).to_numpy(dtype=object)
        right = pd.Series(right).map(profiles).fillna(pd.Series(right)).to_numpy(dtype=object)
    swap = left > right
    return np.where(swap, right, left), np.where(swap, left, right)


def _pair_index(left: np.ndarray, right: np.ndarray) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([left, right])


# -- the decision log ----------------------------------------------------------------------


def record_decisions(log: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Append decisions to the log; re-importing the same file changes nothing."""
    frames = [f[DECISION_COLUMNS] for f in (log, new) if f is not None and len(f)]
    if not frames:
        return pd.DataFrame(columns=DECISION_COLUMNS)
    return pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)


def current_decisions(log: pd.DataFrame | None, profiles: pd.Series | None = None) -> pd.DataFrame:
    """The standing answer per unordered pair: the latest one, unless it was ``undo``.

    Returns:
        ``mention_id_l, mention_id_r`` (canonical order, mapped to profiles when
        given), ``decision, decided_by, decided_at, note``.
    """
    columns = ["mention_id_l", "mention_id_r", "decision", "decided_by", "decided_at", "note"]
    if log is None or log.empty:
        return pd.DataFrame(columns=columns)
    left, right = _canonical(
        _mention_ids(log["agency_l"], log["record_key_l"]),
        _mention_ids(log["agency_r"], log["record_key_r"]),
        profiles,
    )
    frame = log.assign(
        mention_id_l=left,
        mention_id_r=right,
        decided_at=pd.to_datetime(log["decided_at"], utc=True),
        _order=np.arange(len(log)),
    )
    latest = frame.sort_values(["decided_at", "_order"], na_position="first").drop_duplicates(
        ["mention_id_l", "mention_id_r"], keep="last"
    )
    latest = latest[latest["decision"] != "undo"]
    return latest.sort_values(["mention_id_l", "mention_id_r"])[columns].reset_index(drop=True)


def _pairs_with(decisions: pd.DataFrame, answers: Collection[str]) -> pd.DataFrame:
    chosen = decisions[decisions["decision"].isin(answers)]
    return chosen[["mention_id_l", "mention_id_r"]].reset_index(drop=True)


def must_link(log: pd.DataFrame | None, profiles: pd.Series | None = None) -> pd.DataFrame:
    """Pairs a reviewer said are the same person: ``mention_id_l, mention_id_r``."""
    return _pairs_with(current_decisions(log, profiles), {"match"})


def cannot_link(log: pd.DataFrame | None, profiles: pd.Series | None = None) -> pd.DataFrame:
    """Pairs a reviewer said are different people: ``mention_id_l, mention_id_r``.

    Clustering must keep each pair apart, also through chains of other links.
    """
    return _pairs_with(current_decisions(log, profiles), {"non-match"})


# -- the queue -----------------------------------------------------------------------------


def build_queue(
    uncertain: pd.DataFrame,
    log: pd.DataFrame | None = None,
    *,
    profiles: pd.Series | None = None,
    persons: pd.Series | None = None,
    requeue_unsure: bool = False,
) -> pd.DataFrame:
    """The pairs still waiting for a person, most likely matches first.

    With ``persons`` (the run's person per mention id) the queue asks one question per pair
    of persons, not per pair of records: a pair inside one person is left out (an answer
    would change nothing), so is a pair between two persons another answered pair already
    stands between (a ``match`` joins the two whole persons at the next link, a ``non-match``
    keeps them apart through any chain of links), and of the rest only the strongest pair
    per two persons is shown; its answer binds the others in the same way.

    Args:
        uncertain: pairs in the uncertain band: ``mention_id_l``,
            ``mention_id_r``, ``match_weight`` and any explanation columns.
        log: the decision log (:data:`DECISION_COLUMNS`); decided pairs are
            left out, whichever way round they were decided.
        profiles: mention id -> representative mention id (see module doc).
        persons: mention id -> person (of the run that scored the pairs); a
            record without one stands for itself.
        requeue_unsure: show pairs answered ``unsure`` again (e.g. to a
            senior reviewer); by default any answer takes a pair off the queue.

    Returns:
        ``uncertain`` rows in canonical pair order (``mention_id_l`` <
        ``mention_id_r``), one row per pair (per pair of persons with
        ``persons``), sorted by weight descending.
    """
    missing = {"mention_id_l", "mention_id_r", "match_weight"} - set(uncertain.columns)
    if missing:
        raise ValueError(f"uncertain pairs lack column(s): {', '.join(sorted(missing))}")
    left, right = _canonical(
        uncertain["mention_id_l"].to_numpy(dtype=object),
        uncertain["mention_id_r"].to_numpy(dtype=object),
        profiles,
    )
    queue = uncertain.assign(mention_id_l=left, mention_id_r=right)
    queue = queue[queue["mention_id_l"] != queue["mention_id_r"]]
    answers = {"match", "non-match"} if requeue_unsure else {"match", "non-match", "unsure"}
    decided = _pairs_with(current_decisions(log, profiles), answers)
    undecided = ~_pair_index(queue["mention_id_l"], queue["mention_id_r"]).isin(
        _pair_index(decided["mention_id_l"], decided["mention_id_r"])
    )
    queue = queue[undecided].sort_values(
        ["match_weight", "mention_id_l", "mention_id_r"], ascending=[False, True, True]
    )
    queue = queue.drop_duplicates(["mention_id_l", "mention_id_r"])
    if persons is not None:
        queue = _one_per_persons(queue, decided, persons)
    return queue.reset_index(drop=True)


def _person_pair(left: pd.Series, right: pd.Series, persons: pd.Series) -> pd.MultiIndex:
    """Unordered (person, person) of record pairs; a record without a person stands for itself."""
    of_left = left.map(persons).fillna(left).to_numpy(dtype=object)
    of_right = right.map(persons).fillna(right).to_numpy(dtype=object)
    swap = of_left > of_right
    return _pair_index(np.where(swap, of_right, of_left), np.where(swap, of_left, of_right))


def _one_per_persons(
    queue: pd.DataFrame, decided: pd.DataFrame, persons: pd.Series
) -> pd.DataFrame:
    """The strongest pair of each two persons no answered pair stands between (``queue`` is
    sorted strongest first); pairs inside one person are left out."""
    key = _person_pair(queue["mention_id_l"], queue["mention_id_r"], persons)
    answered = _person_pair(decided["mention_id_l"], decided["mention_id_r"], persons)
    apart = key.get_level_values(0) != key.get_level_values(1)
    keep = apart & ~key.isin(answered) & ~key.duplicated()
    return queue[keep]


def export_queue(
    queue: pd.DataFrame,
    mentions: pd.DataFrame | None = None,
    path_or_buf: str | Path | IO[str] | None = None,
    *,
    with_scores: bool = False,
    fields: Collection[str] = REVIEW_FIELDS,
) -> str | None:
    """Write the queue as a CSV for a reviewer to fill in: ``decision``, ``decided_by``, ``note``.

    ``decided_at`` may be left blank; :func:`read_decisions` stamps the import time.

    Args:
        queue: from :func:`build_queue`.
        mentions: the mention frame, to show each side's details (``fields``
            that it has, suffixed ``_l``/``_r``).
        path_or_buf: where to write; None returns the CSV text.
        with_scores: include ``match_weight`` (off: reviewing is blind).
        fields: mention fields to show.

    Example:
        >>> export_queue(build_queue(result.review, log), mentions, "review.csv")
    """
    agency_l, key_l = _split(queue["mention_id_l"].to_numpy(dtype=object))
    agency_r, key_r = _split(queue["mention_id_r"].to_numpy(dtype=object))
    sheet = pd.DataFrame(
        {"agency_l": agency_l, "record_key_l": key_l, "agency_r": agency_r, "record_key_r": key_r}
    )
    if mentions is not None:
        shown = [f for f in fields if f in mentions.columns]
        details = mentions.set_index("mention_id")[shown]
        for side in ("l", "r"):
            found = details.reindex(queue[f"mention_id_{side}"]).reset_index(drop=True)
            sheet = sheet.join(found.add_suffix(f"_{side}"))
    if with_scores:
        sheet["match_weight"] = queue["match_weight"].round(2).to_numpy()
    sheet = sheet.assign(decision="", decided_by="", decided_at="", note="")
    return sheet.to_csv(path_or_buf, index=False)


def read_decisions(
    path_or_buf: str | Path | IO[str],
    *,
    decided_at: pd.Timestamp | str | None = None,
    known_mention_ids: Collection[str] | None = None,
) -> pd.DataFrame:
    """Read and validate a filled-in review CSV.

    Rows with a blank ``decision`` are skipped (not reviewed yet). Every
    problem is collected and reported together, naming the line and field.

    Args:
        path_or_buf: the CSV (as written by :func:`export_queue`, extra
            columns ignored).
        decided_at: time stamped on rows whose ``decided_at`` is blank
            (normally the import time); required if any such row exists.
        known_mention_ids: when given, each record must be one of these.

    Returns:
        New decision-log rows, :data:`DECISION_COLUMNS`.

    Raises:
        DecisionImportError: listing every problem found.
    """
    if isinstance(path_or_buf, str | Path):
        with open(path_or_buf, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    else:
        text = path_or_buf.read()
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    raw.columns = raw.columns.str.strip()
    missing = [c for c in _REQUIRED_IMPORT if c not in raw.columns]
    if missing:
        raise DecisionImportError([f"header: missing column(s) {', '.join(missing)}"])
    raw = raw.reindex(columns=[*_REQUIRED_IMPORT, "decided_at", "note"], fill_value="")
    raw = raw.apply(lambda column: column.str.strip())
    raw["_line"] = np.arange(len(raw)) + 2  # the header is line 1
    raw = raw[raw["decision"] != ""]
    decision = raw["decision"].str.lower().replace(_ALIASES)
    raw = raw.assign(decision=decision)
    problems = _row_problems(raw, decided_at, known_mention_ids)
    if problems:
        raise DecisionImportError(problems)
    when = _parse_times(raw["decided_at"])
    if decided_at is not None:
        when = when.fillna(pd.to_datetime(pd.Series([decided_at]), utc=True).iloc[0])
    return raw.assign(decided_at=when)[DECISION_COLUMNS].reset_index(drop=True)


def _parse_times(text: pd.Series) -> pd.Series:
    """ISO date/times as UTC; blank or unparseable gives NaT."""
    return pd.to_datetime(text.mask(text == ""), errors="coerce", utc=True, format="ISO8601")


def _row_problems(
    raw: pd.DataFrame,
    decided_at: pd.Timestamp | str | None,
    known: Collection[str] | None,
) -> list[str]:
    """Every problem as ``line N, field 'x': what is wrong`` (vectorised checks)."""
    found: list[tuple[int, str, str]] = []

    def flag(mask: pd.Series, field: str, message: str | pd.Series) -> None:
        text = message if isinstance(message, pd.Series) else pd.Series(message, index=raw.index)
        found.extend(
            zip(raw.loc[mask, "_line"], [field] * int(mask.sum()), text[mask], strict=True)
        )

    for field in [*_KEY_COLUMNS, "decided_by"]:
        flag(raw[field] == "", field, "is blank")
    bad = ~raw["decision"].isin(DECISIONS)
    flag(bad, "decision", "'" + raw["decision"] + "' is not one of " + ", ".join(DECISIONS))
    when = _parse_times(raw["decided_at"])
    flag(
        (raw["decided_at"] != "") & when.isna(),
        "decided_at",
        "'" + raw["decided_at"] + "' is not an ISO date/time",
    )
    if decided_at is None:
        flag(raw["decided_at"] == "", "decided_at", "is blank and no import time was given")
    left = pd.Series(_mention_ids(raw["agency_l"], raw["record_key_l"]), index=raw.index)
    right = pd.Series(_mention_ids(raw["agency_r"], raw["record_key_r"]), index=raw.index)
    flag(left == right, "record_key_r", "pairs a record with itself")
    if known is not None:
        known_ids = pd.Index(list(known))
        for side, ids in (("l", left), ("r", right)):
            unknown = ~ids.isin(known_ids) & (raw[f"record_key_{side}"] != "")
            flag(unknown, f"record_key_{side}", "record '" + ids + "' is not known")
    lo, hi = _canonical(left.to_numpy(dtype=object), right.to_numpy(dtype=object), None)
    pair = pd.Series(list(zip(lo, hi, strict=True)), index=raw.index)
    answers = raw["decision"].groupby(pair).transform("nunique")
    flag(answers > 1, "decision", "conflicts with another row for the same pair")
    return [f"line {line}, field '{field}': {message}" for line, field, message in sorted(found)]


# -- binding -------------------------------------------------------------------------------


def bind_links(
    links: pd.DataFrame,
    log: pd.DataFrame | None,
    *,
    profiles: pd.Series | None = None,
    forced_weight: float = np.inf,
) -> pd.DataFrame:
    """Apply standing decisions to a run's accepted links before clustering.

    ``non-match`` pairs are removed; ``match`` pairs are kept or added (with
    ``forced_weight``, so a repair step that drops the weakest links never
    drops them). A ``decision`` column says which links a person decided.
    Removing a direct link is not enough to keep two mentions apart: pass
    :func:`cannot_link` to clustering as well.

    Args:
        links: ``mention_id_l, mention_id_r, match_weight`` and any others.
        log: the decision log.
        profiles: mention id -> representative mention id (see module doc).
        forced_weight: weight given to added ``match`` links.
    """
    decisions = current_decisions(log, profiles)
    left, right = _canonical(
        links["mention_id_l"].to_numpy(dtype=object),
        links["mention_id_r"].to_numpy(dtype=object),
        profiles,
    )
    key = _pair_index(left, right)
    answer = decisions.set_index(["mention_id_l", "mention_id_r"])["decision"]
    decided = answer.reindex(key).to_numpy(dtype=object)
    binding = np.isin(decided, ["match", "non-match"])
    bound = links.assign(decision=np.where(binding, decided, None))
    bound = bound[bound["decision"] != "non-match"]
    forced = decisions[decisions["decision"] == "match"]
    present = _pair_index(forced["mention_id_l"], forced["mention_id_r"]).isin(key)
    added = forced.loc[~present, ["mention_id_l", "mention_id_r", "decision"]].assign(
        match_weight=forced_weight
    )
    return (
        pd.concat([bound, added], ignore_index=True) if len(added) else bound.reset_index(drop=True)
    )


def violations(
    clusters: pd.DataFrame, log: pd.DataFrame | None, profiles: pd.Series | None = None
) -> pd.DataFrame:
    """Standing decisions a clustering broke: ``non-match`` pairs together, ``match`` pairs apart.

    Args:
        clusters: ``mention_id, cluster`` (any cluster label or person id).

    Returns:
        ``mention_id_l, mention_id_r, decision, cluster_l, cluster_r``; empty when all bind.
    """
    decisions = current_decisions(log, profiles)
    decisions = decisions[decisions["decision"].isin(["match", "non-match"])]
    label = clusters.set_index("mention_id")["cluster"]
    found = decisions.assign(
        cluster_l=decisions["mention_id_l"].map(label),
        cluster_r=decisions["mention_id_r"].map(label),
    ).dropna(subset=["cluster_l", "cluster_r"])
    same = found["cluster_l"] == found["cluster_r"]
    broken = (same & (found["decision"] == "non-match")) | (~same & (found["decision"] == "match"))
    columns = ["mention_id_l", "mention_id_r", "decision", "cluster_l", "cluster_r"]
    return found.loc[broken, columns].reset_index(drop=True)
