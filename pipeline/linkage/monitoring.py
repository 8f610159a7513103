"""Linkage monitoring: run drift against the previous run of the same mode, and each delivery's
match rate against its agency's history.

**Run drift.** Every run's statistics (``stats_json`` → ``run``) are compared with those of the
previous run of the same mode (full with full, incremental with incremental): a full run and
a delta are not alike. Only rates are compared (links and review pairs per profile, mentions
per person, share unlinked); counts follow the size of the delivery. A delta's links and review
pairs all touch its new records, so per profile of the whole warehouse they would grow with
the delivery: a delta compares them per new record, and only when there are ``MIN_LINKS`` of
them (a handful of review pairs moves by half from one run to the next). "Previous" is the
latest start, ties broken by run id (the start to the microsecond).

**Delivery match rate.** Per delivery (ledger file) whose records are new in a run, the share of
those new records that link to a person who also has a record from another agency, and, per
compared field (name, date of birth, postcode, identifiers...), the share of the links from
those records to other agencies' records in which the field agrees exactly. A delivery is
**flagged** when its match rate, or any field's agreement, is far below its agency's history,
with one robust rule:

    value < median − max(K × 1.4826 × MAD, MIN_DROP)

over the agency's earlier unflagged deliveries (at least ``MIN_RECORDS`` new records for the
match rate, ``MIN_LINKS`` links for agreement), once there are ``MIN_HISTORY`` of them (MAD:
median absolute deviation; × 1.4826 makes it a standard deviation for normal data;
``MIN_DROP``, an absolute share, keeps a very steady history from flagging noise). A small
delivery, or one without enough history, is recorded and never flagged.

Why agreement as well: the matcher is built to link through typing slips, a day/month swap
included, so a file whose every date of birth came with day and month swapped (those the gate
lets through: the swapped date is a real one) still links nearly as often; but its links agree
on date of birth almost never, where the agency's earlier deliveries agreed nearly always.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from matching.matcher import PersonLinkResult
from matching.scoring import compare_runs
from pipeline.warehouse.engine import Warehouse

__all__ = [
    "DRIFT_STATS",
    "MIN_DROP",
    "MIN_HISTORY",
    "MIN_LINKS",
    "MIN_RECORDS",
    "K",
    "delivery_match_rates",
    "drift",
    "flagged_deliveries",
    "recent_deliveries",
    "record_match_rates",
]

log = logging.getLogger(__name__)

DRIFT_STATS = ("accepted_links_per_profile", "review_pairs_per_profile", "mentions_per_cluster", "share_unlinked")
#: Pair counts over all profiles: a delta judges them per new record (:func:`drift`).
PER_PROFILE = ("accepted_links_per_profile", "review_pairs_per_profile")
K = 3.0
MIN_DROP = 0.10
MIN_HISTORY = 3
MIN_RECORDS = 20
MIN_LINKS = 10


def _rates(mode: str, run: dict, new_records: int | None) -> dict[str, float]:
    """The run's statistics that drift is judged on: a delta's pair counts per new record, and
    a pair rate only when it rests on ``MIN_LINKS`` pairs (one review pair or three is noise)."""
    rates = {k: v for k, v in run.items() if k in DRIFT_STATS}
    per_new = mode == "incremental" and bool(new_records)
    for name in PER_PROFILE:
        if name in rates and run.get("profiles"):
            pairs = round(rates.pop(name) * run["profiles"])  # the rate is pairs / profiles
            if pairs >= MIN_LINKS:
                rates[name.replace("per_profile", "per_new_record") if per_new else name] = (
                    pairs / (new_records if per_new else run["profiles"]))
    return rates


def drift(wh: Warehouse, mode: str, run: dict, new_records: int) -> list[str]:
    """Warnings for this run's rates that moved far from the previous run of the same mode
    (``new_records``: the run's records that no earlier run linked)."""
    before = wh.read("select stats_json, n_new_mentions from linked.runs where mode = :m and stats_json is not null "
                     "order by started_at desc, run_id desc limit 1", {"m": mode})
    if before.empty or not (previous := json.loads(before["stats_json"].iloc[0]).get("run")):
        return []
    earlier = before["n_new_mentions"].iloc[0]
    reference = _rates(mode, previous, None if pd.isna(earlier) else int(earlier))
    warnings = compare_runs(_rates(mode, run, new_records), reference)
    return [f"{mode} run vs the previous {mode} run: {w}" for w in warnings]


def delivery_match_rates(mentions: pd.DataFrame, new: pd.Series, result: PersonLinkResult | None) -> pd.DataFrame:
    """Per delivery (``file_id``) with new records: agency, new records, how many of them belong to
    a person with a record from another agency, and ``agreement``: per compared field, the share
    of the links from its new records to other agencies' records where the field agrees exactly
    (``mentions``: mention_id, agency, file_id, person_id)."""
    fresh = mentions[new.to_numpy()]
    their = mentions[mentions["person_id"].isin(fresh["person_id"])]  # the persons of new records only
    agencies = their.groupby("person_id")["agency"].nunique()
    matched = fresh["person_id"].map(agencies).to_numpy() > 1
    out = (fresh.assign(matched=matched).groupby(["file_id", "agency"], as_index=False)
           .agg(n_new=("matched", "size"), n_matched=("matched", "sum")))
    out["match_rate"] = out["n_matched"] / out["n_new"]
    agreement = _agreement(fresh, mentions.set_index("mention_id")["agency"], result)
    out["n_links"] = out["file_id"].map(agreement.pop("n_links")).fillna(0).astype(int) if len(agreement) else 0
    out["agreement"] = out["file_id"].map(pd.Series(agreement.to_dict("index"))) if len(agreement) else None
    return out


def _agreement(fresh: pd.DataFrame, agency_of: pd.Series, result: PersonLinkResult | None) -> pd.DataFrame:
    """Per file_id: links from its new records to other agencies' records (``n_links``) and, per
    field compared in them, the share that agree exactly. Links join profiles (distinct
    identifying details); each new record counts the links of its profile."""
    if result is None or result.links.empty or fresh.empty:
        return pd.DataFrame()
    links = result.links
    fields = [c[3:] for c in links.columns if c.startswith("bf_")]
    sides = pd.concat([links.assign(profile=links["mention_id_l"], other=links["mention_id_r"]),
                       links.assign(profile=links["mention_id_r"], other=links["mention_id_l"])], ignore_index=True)
    profile = result.clusters.set_index("mention_id")["profile"]
    records = fresh.assign(profile=fresh["mention_id"].map(profile).to_numpy())[["file_id", "agency", "profile"]]
    long = records.merge(sides[["profile", "other", *fields]], on="profile")
    long = long[long["agency"].to_numpy() != long["other"].map(agency_of).to_numpy()]
    if long.empty:
        return pd.DataFrame()
    levels = long[fields].astype(str)
    exact = (levels == "exact").where(levels != "null")  # a field missing on either side says nothing
    shares = exact.groupby(long["file_id"].to_numpy()).mean().round(4)
    return shares.assign(n_links=long.groupby("file_id").size())


def _judge(value: float, history: pd.Series) -> tuple[float | None, float | None, bool]:
    """(median, MAD, far below) of one delivery's figure against its agency's history."""
    history = history.dropna()
    if len(history) < MIN_HISTORY or pd.isna(value):
        return None, None, False
    median = float(history.median())
    mad = float((history - median).abs().median())
    return median, mad, value < median - max(K * 1.4826 * mad, MIN_DROP)


def _reasons(r: Any, past: pd.DataFrame) -> tuple[list[str], float | None, float | None]:
    """What is far below the agency's history in one delivery, and the match rate's median and MAD."""
    median, mad, low = _judge(r.match_rate, past["match_rate"]) if r.n_new >= MIN_RECORDS else (None, None, False)
    reasons = [f"{r.match_rate:.0%} of its {r.n_new} new records link to a person known from another agency "
               f"(median of {len(past)} earlier deliveries {median:.0%}, MAD {mad:.1%})"] if low else []
    if r.n_links >= MIN_LINKS and isinstance(r.agreement, dict):
        agreed = pd.DataFrame(list(past["agreement"].dropna()))
        for name, share in r.agreement.items():
            if name in agreed:
                med, _, far = _judge(share, agreed[name])
                if far:
                    reasons.append(f"{name} agrees exactly in {share:.0%} of its {r.n_links} links to other "
                                   f"agencies' records (median of earlier deliveries {med:.0%})")
    return reasons, median, mad


def record_match_rates(wh: Warehouse, conn: Connection, rates: pd.DataFrame, run_id: str) -> list[str]:
    """Judge each delivery against its agency's earlier unflagged deliveries and store it in
    ``linked.delivery_match_rates``; returns a warning per flagged delivery."""
    if rates.empty:
        return []
    history = wh.read("select agency, n_new, match_rate, n_links, agreement_json from linked.delivery_match_rates "
                      "where not flagged order by file_id", conn=conn)
    history["agreement"] = [json.loads(a) if a else None for a in history.pop("agreement_json")]
    earlier = history.to_dict("records")
    names = dict(wh.read("select file_id, file_name from ops.files", conn=conn).itertuples(index=False))
    rows, warnings = [], []
    for r in rates.sort_values("file_id").itertuples():  # one row per delivery, not per record
        past = pd.DataFrame([h for h in earlier if h["agency"] == r.agency],
                            columns=["n_new", "match_rate", "n_links", "agreement"])
        past = past.assign(match_rate=past["match_rate"].where(past["n_new"] >= MIN_RECORDS),
                           agreement=past["agreement"].where(past["n_links"] >= MIN_LINKS))
        found, median, mad = _reasons(r, past)
        reason = f"{r.agency} delivery {names.get(int(r.file_id), r.file_id)}: " + "; ".join(found) if found else None
        if reason:
            warnings.append(reason)
            log.warning("linkage monitoring: %s", reason)
        row = {"file_id": int(r.file_id), "agency": r.agency, "run_id": run_id, "n_new": int(r.n_new),
               "n_matched": int(r.n_matched), "match_rate": float(r.match_rate), "n_links": int(r.n_links),
               "agreement_json": json.dumps(r.agreement) if isinstance(r.agreement, dict) else None,
               "history_median": median, "history_mad": mad, "n_history": int(past["match_rate"].notna().sum()),
               "flagged": bool(found), "reason": reason}
        rows.append(row)
        if not found:
            earlier.append(row | {"agreement": r.agreement})
    frame = pd.DataFrame(rows).astype({"history_median": float, "history_mad": float})
    with wh.staged(conn, "_fh_rates", frame[["file_id"]]):
        wh.execute(conn, "delete from linked.delivery_match_rates where file_id in (select file_id from _fh_rates)")
    wh.insert(conn, "linked.delivery_match_rates", frame)
    return warnings


_DELIVERIES = """
select r.file_id, r.agency, f.file_name, f.extract_date, r.run_id, r.n_new, r.match_rate, r.n_links, r.agreement_json,
       r.history_median, r.flagged, r.reason,
       row_number() over (partition by r.agency order by r.file_id desc) as recency
from linked.delivery_match_rates r left join ops.files f on f.file_id = r.file_id
"""


def recent_deliveries(wh: Warehouse, per_agency: int = 5) -> pd.DataFrame:
    """Each agency's latest ``per_agency`` deliveries: match rate, field agreement, flagged or not."""
    return wh.read(f"select * from ({_DELIVERIES}) d where recency <= :k order by agency, file_id desc",
                   {"k": per_agency}).drop(columns="recency")


def flagged_deliveries(wh: Warehouse) -> pd.DataFrame:
    """Deliveries flagged for a match rate far below their agency's history, newest first."""
    return wh.read(f"select * from ({_DELIVERIES}) d where flagged order by file_id desc").drop(columns="recency")
