"""Cases: casework follows identities, not family ids that can retire.

A key worker works with a *case* (``case_id``, minted when a family is first attached), and
the families a case covers are kept in ``cohort.case_families``. Every link run's family
lineage (``linked.lineage_events``) moves them on, in the link run's own transaction
(:func:`follow`):

* a covered family ``merged`` into another: the case follows the survivor (and its history,
  ``cohort.case_events``, says so);
* a covered family ``split``: the case covers every part;
* a covered family ``retired`` (its records all gone, e.g. erased): the case loses it.

Any merge or split touching a case with an open attachment, and two open cases coming to
cover the same family, raise a review item for the coordinator (``cohort.case_reviews``).
Until it is decided (:func:`decide`) every key worker of every case involved keeps seeing
every family the case covers: row security, alerts, the family view and claims all read
attachments through ``cohort.family_attachments``, the attachment rows joined to the
families their case now covers.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import pandas as pd
from sqlalchemy.engine import Connection

from pipeline.warehouse.engine import Warehouse

__all__ = ["case_of", "decide", "follow", "mint_case", "open_reviews"]

_MOVES = ("merged", "split")


def mint_case(family_id: str, at: datetime) -> str:
    """A new opaque case id (``C`` + 12 hex digits), never derived from a family id alone."""
    return "C" + hashlib.sha256(f"{family_id}|{at.isoformat()}".encode()).hexdigest()[:12]


def case_of(wh: Warehouse, family_id: str) -> str | None:
    """The case covering ``family_id`` (the earliest attached when several do), or None."""
    return wh.scalar(
        "select c.case_id from cohort.case_families c join cohort.attachments a on a.case_id = c.case_id "
        "where c.family_id = :f group by c.case_id order by min(a.recorded_at), c.case_id limit 1",
        {"f": family_id})


def _event_rows(cases: pd.DataFrame, run_id: str, now: datetime) -> pd.DataFrame:
    """History rows for each (case, old family -> family) move of this run."""
    text = {"merged": "family {old} merged into {new}: the case follows {new}",
            "split": "part of family {old} ({n} people's records) is now family {new}: the case covers both "
                     "until a coordinator decides",
            "retired": "family {old} has no records left: the case no longer covers it"}
    detail = [text[e].format(old=o, new=n, n=k) for e, o, n, k in
              zip(cases["event"], cases["old_id"], cases["new_id"], cases["n_keys"], strict=True)]
    kind = cases["event"].map({"merged": "followed", "split": "covered", "retired": "lost"})
    return pd.DataFrame({"case_id": cases["case_id"].to_numpy(), "run_id": run_id, "event": kind.to_numpy(),
                         "family_id": cases["new_id"].to_numpy(), "from_family_id": cases["old_id"].to_numpy(),
                         "detail": detail, "recorded_at": now.isoformat(sep=" ")})


def _reviews(covered: pd.DataFrame, moved: pd.DataFrame, open_cases: pd.Index, run_id: str,
             now: datetime) -> pd.DataFrame:
    """One review item per open case a move touched (merged, split) or that now shares a family."""
    open_cover = covered[covered["case_id"].isin(open_cases)]
    sharers = open_cover.groupby("family_id")["case_id"].agg(lambda c: sorted(set(c)))
    shared_families = sharers[sharers.map(len) > 1]
    touched = set(moved.loc[moved["case_id"].isin(open_cases), "case_id"])
    touched |= {c for cases in shared_families for c in cases}
    if not touched:
        return pd.DataFrame()
    rows = []
    families = open_cover.groupby("case_id")["family_id"].agg(lambda f: sorted(set(f)))
    for case in sorted(touched):
        mine = families.get(case, [])
        others = sorted({c for f in mine for c in shared_families.get(f, []) if c != case})
        kind = "shared" if others else "split" if len(mine) > 1 else "merged"
        moves = moved[moved["case_id"] == case]
        said = "; ".join(f"{e} {o} -> {n}" for e, o, n in zip(moves["event"], moves["old_id"], moves["new_id"],
                                                                strict=True))
        detail = {"shared": f"case now shares a family with {', '.join(others)}: decide which case continues",
                  "split": f"family split, the case covers {', '.join(mine)}: decide which it keeps",
                  "merged": f"family merged, the case now covers {', '.join(mine)}: confirm"}[kind]
        rows.append({"review_id": f"R{run_id}-{case}", "case_id": case, "run_id": run_id, "kind": kind,
                     "families": ",".join(mine), "other_cases": ",".join(others) or None,
                     "detail": detail + (f" ({said})" if said else ""), "raised_at": now.isoformat(sep=" ")})
    return pd.DataFrame(rows)


def follow(wh: Warehouse, conn: Connection, lineage: pd.DataFrame, run_id: str) -> dict[str, int]:
    """Move every case along one link run's family lineage (``kind``, ``event``, ``old_id``,
    ``new_id``, ``n_keys``); write history and review items. Call inside the link transaction."""
    covered = wh.read("select case_id, family_id, since_run from cohort.case_families", conn=conn)
    if covered.empty:
        return {"moved": 0, "reviews": 0}
    fam = lineage[(lineage["kind"] == "family") & lineage["old_id"].isin(covered["family_id"])]
    fam = fam[fam["event"].isin([*_MOVES, "retired"])]
    if fam.empty:
        return {"moved": 0, "reviews": 0}
    moved = covered[["case_id", "family_id"]].merge(
        fam[["event", "old_id", "new_id", "n_keys"]], left_on="family_id", right_on="old_id")
    lost = fam.loc[fam["event"].isin(["merged", "retired"]), "old_id"]
    gained = moved[moved["event"].isin(_MOVES)]
    now = datetime.now()  # written as text: the bulk insert would keep only the date of a datetime
    result = pd.concat([
        covered[~covered["family_id"].isin(lost)],
        pd.DataFrame({"case_id": gained["case_id"], "family_id": gained["new_id"], "since_run": run_id}),
    ], ignore_index=True).drop_duplicates(["case_id", "family_id"])
    open_cases = pd.Index(wh.read(
        "select distinct case_id from (select case_id, closed_on, row_number() over (partition by case_id "
        "order by attached_on desc, recorded_at desc) as latest from cohort.attachments) a "
        "where latest = 1 and closed_on is null", conn=conn)["case_id"])
    reviews = _reviews(result, moved[moved["event"].isin(_MOVES)], open_cases, run_id, now)
    wh.execute(conn, "delete from cohort.case_families")
    wh.insert(conn, "cohort.case_families", result)
    wh.insert(conn, "cohort.case_events", _event_rows(moved, run_id, now))
    wh.insert(conn, "cohort.case_reviews", reviews)
    return {"moved": len(moved), "reviews": len(reviews)}


def open_reviews(wh: Warehouse) -> pd.DataFrame:
    """Review items not yet decided, oldest first."""
    return wh.read("select * from cohort.case_reviews where decided_at is null order by raised_at, review_id")


def decide(wh: Warehouse, review_id: str, by: str, keep: list[str] | None = None) -> list[str]:
    """Decide a review item: the case keeps covering ``keep`` (default: all it covers now).

    Families dropped leave the case (their key worker stops seeing them); every other open
    review of the same case is decided with it. Returns the families the case keeps.
    """
    item = wh.read("select case_id from cohort.case_reviews where review_id = :r and decided_at is null",
                   {"r": review_id})
    if item.empty:
        raise ValueError(f"no open review item {review_id} (see `open_reviews`)")
    case = item["case_id"].iloc[0]
    now_covers = wh.read("select family_id from cohort.case_families where case_id = :c",
                         {"c": case})["family_id"].tolist()
    keep = sorted(now_covers if keep is None else keep)
    unknown = sorted(set(keep) - set(now_covers))
    if unknown or not keep:
        raise ValueError(f"case {case} covers {', '.join(sorted(now_covers)) or 'no family'}: "
                         f"it cannot keep {', '.join(unknown) or 'nothing'}")
    now = datetime.now()
    dropped = sorted(set(now_covers) - set(keep))
    with wh.begin() as conn:
        for family in dropped:
            wh.execute(conn, "delete from cohort.case_families where case_id = :c and family_id = :f",
                       {"c": case, "f": family})
        wh.insert(conn, "cohort.case_events", pd.DataFrame({
            "case_id": case, "run_id": None, "event": "decided", "family_id": keep, "from_family_id": None,
            "detail": f"review decided by {by}: the case keeps {', '.join(keep)}"
                      + (f", drops {', '.join(dropped)}" if dropped else ""), "recorded_at": now.isoformat(sep=" ")}))
        wh.execute(conn, "update cohort.case_reviews set decision = :d, decided_by = :b, decided_at = :t "
                         "where case_id = :c and decided_at is null",
                   {"d": ",".join(keep), "b": by, "t": now, "c": case})
    return keep
