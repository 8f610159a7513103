"""Erasure on request and the retention period: remove raw rows and everything derived from them.

``erase_person`` removes a person's source records (every delivered version, held rows
included) and everything derived from them (:data:`BY_RECORD`, :data:`BY_PERSON`): mentions
and events, links, review decisions, cohort and claim evidence, alerts with their deliveries
and seen-marks, the person, their pseudonym, their family's savings figures, and families left
empty with what was about them alone (:data:`BY_EMPTY_FAMILY`, recorded needs included). It records a tombstone per
record so a re-sent file cannot bring them back (ingest calls :func:`drop_erased`), and
audits it, all in one transaction. ``apply_retention`` removes records whose events ended
before the retention period (``FAMILYHUB_RETENTION_DAYS``) with the same cascade, and recorded
needs closed before it (with their history); open episodes, claims, tenancies and needs are
kept while open. A recorded need is about the family, so erasing one member keeps it while
others remain.

What stays, holding no personal data: ledger rows (removed row numbers go to
``ops.removed_rows`` so file counts still reconcile), the id lineage (opaque ids, kept so an
erased person's id is never given to someone else), attachments and claims (the authority's
record of its work and payments: family id, dates, amounts), and the audit log, which names
the erased person's id and never a record key. Re-run the cohort afterwards: a remaining
family's criteria and cost may have rested on the erased records.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from pipeline.governance import audit
from pipeline.ingest.agencies import Agency, get_agency, load_agencies
from pipeline.ingest.canonical import record_keys
from pipeline.settings import settings
from pipeline.warehouse.engine import Warehouse

__all__ = ["ErasureError", "apply_retention", "drop_erased", "erase_person",
           "key_hashes", "retention_days"]

#: Ingest holds this advisory lock shared while it checks tombstones and loads; erasure holds it
#: exclusively, so a file being loaded as a person is erased cannot bring their rows back.
ERASURE_LOCK = 0x46480001
_DATE_COLUMNS = ["event_date", "start_date", "end_date", "asb_complaint_date"]
_IN_GONE = "in (select mention_id from _fh_gone)"
_KEY_GONE = "exists (select 1 from _fh_gone g where g.agency = {t}.agency and g.record_key = {t}.record_key)"
#: What derives from a record (``_fh_gone``: agency, record_key, mention_id), in delete order.
BY_RECORD = {
    "staging.events": f"mention_id {_IN_GONE}",
    "staging.person_mentions": f"mention_id {_IN_GONE}",
    "linked.mention_person": f"mention_id {_IN_GONE}",
    "linked.record_links": f"mention_id_l {_IN_GONE} or mention_id_r {_IN_GONE}",
    "linked.review_decisions": "exists (select 1 from _fh_gone g where (g.agency = agency_l and g.record_key = "
                               "record_key_l) or (g.agency = agency_r and g.record_key = record_key_r))",
    "cohort.evidence": _KEY_GONE.format(t="cohort.evidence"),
    "cohort.claim_evidence": _KEY_GONE.format(t="cohort.claim_evidence"),
    "cohort.alert_deliveries": f"alert_id in (select alert_id from cohort.alerts where mention_id {_IN_GONE})",
    "cohort.alerts": f"mention_id {_IN_GONE}",
    "cohort.alert_seen": f"mention_id {_IN_GONE}",
    "cohort.alert_queue": f"mention_id {_IN_GONE}",
}
_IN_ORPHANS = "in (select person_id from _fh_orphans)"
#: What names a person left without records (``_fh_orphans``), in delete order.
BY_PERSON = {
    "linked.household_edges": f"person_a {_IN_ORPHANS} or person_b {_IN_ORPHANS}",
    "cohort.evidence": f"person_id {_IN_ORPHANS}",
    "cohort.claim_evidence": f"person_id {_IN_ORPHANS}",
    "cohort.alert_deliveries": f"alert_id in (select alert_id from cohort.alerts where person_id {_IN_ORPHANS})",
    "cohort.alerts": f"person_id {_IN_ORPHANS}",
    "linked.person_family": f"person_id {_IN_ORPHANS}",
    "linked.persons": f"person_id {_IN_ORPHANS}",
}
#: Derived per family, or about the family only: goes when its last member goes. Attachments and
#: claims stay: the authority's record of its own work and payments (ids and amounts, no person).
BY_EMPTY_FAMILY = ("cohort.evidence", "cohort.results", "cohort.family_outcomes", "cohort.referrals",
                   "cohort.recorded_needs")
#: Recorded needs (every history row) closed before the retention cutoff ``:c``.
_OLD_NEEDS = ("need_id in (select need_id from cohort.recorded_needs group by need_id "
              "having max(case when change = 'closed' then closed_on end) < :c)")


class ErasureError(ValueError):
    """An erasure or retention request that cannot be carried out as asked."""


def key_hashes(agency: str, keys: pd.Series) -> np.ndarray:
    """SHA-256 (hex) of ``agency|record_key`` for each key, vectorised (the tombstone key)."""
    frame = pd.DataFrame({"k": (agency + "|" + keys.astype(str)).to_numpy(dtype=object)})
    with duckdb.connect() as con:
        con.register("_fh_keys", frame)
        return con.execute("select sha256(k) as h from _fh_keys").df()["h"].to_numpy(dtype=object)


def _lock(wh: Warehouse, conn: Connection, shared: bool) -> None:
    if not wh.is_embedded:  # DuckDB has one writer at a time anyway
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.exec_driver_sql(f"select {fn}({ERASURE_LOCK})")


def drop_erased(wh: Warehouse, conn: Connection, agency: Agency, chunk: pd.DataFrame, file_id: int) -> pd.DataFrame:
    """Ingest hook: the chunk without rows of erased records (their row numbers are noted)."""
    _lock(wh, conn, shared=True)
    hashes = wh.read("select key_hash from ops.tombstones where agency = :a", {"a": agency.name}, conn)
    if hashes.empty:
        return chunk
    gone = np.isin(key_hashes(agency.name, record_keys(agency, chunk)), hashes["key_hash"].to_numpy())
    if not gone.any():
        return chunk
    wh.insert(conn, "ops.removed_rows", pd.DataFrame({
        "file_id": file_id, "row_number": chunk["row_number"][gone].astype("int64"), "agency": agency.name,
        "cause": "tombstoned", "removed_at": datetime.now()}))
    return chunk[~gone].reset_index(drop=True)


# -- the cascade -------------------------------------------------------------------------------
def _raw_rows(wh: Warehouse, conn: Connection, agency: Agency, keys: set[str], source_ids: set[str]) -> pd.DataFrame:
    """Raw rows (every file's version) of the given records, or of the given agency person ids."""
    source_col = agency.person.get("source_person_id")
    cols = [*agency.event_key, *([source_col] if source_col and source_ids else [])]
    quoted = ", ".join(f'"{c}"' for c in dict.fromkeys(cols))
    raw = wh.read(f"select file_id, row_number, {quoted} from raw.{agency.name}", conn=conn)
    if raw.empty:
        return raw.assign(record_key=pd.Series(dtype=object))[["file_id", "row_number", "record_key"]]
    raw[list(dict.fromkeys(cols))] = raw[list(dict.fromkeys(cols))].fillna("").astype(str)
    raw["record_key"] = record_keys(agency, raw)
    hit = raw["record_key"].isin(keys)
    if source_col and source_ids:
        hit |= (agency.name + ":" + raw[source_col].str.strip()).isin(source_ids)
    return raw.loc[hit, ["file_id", "row_number", "record_key"]]


def _purge(wh: Warehouse, conn: Connection, records: pd.DataFrame, cause: str,
           source_ids: pd.Series | None = None, extra_rows: pd.DataFrame | None = None) -> tuple[dict, pd.DataFrame]:
    """Remove the given records (agency, record_key) from every layer; returns counts and the
    (agency, record_key) of every record removed (source-id matches and extra rows included)."""
    counts: Counter[str] = Counter()
    removed = [records[["agency", "record_key"]]]
    sources = set(source_ids.dropna()) if source_ids is not None else set()
    agencies = set(records["agency"]) | {s.split(":", 1)[0] for s in sources}
    if extra_rows is not None:
        agencies |= set(extra_rows["agency"])
    now = datetime.now()
    for name in sorted(agencies):
        agency = get_agency(name)
        rows = _raw_rows(wh, conn, agency, set(records.loc[records["agency"] == name, "record_key"]),
                         {s for s in sources if s.startswith(name + ":")})
        if extra_rows is not None:
            rows = pd.concat([rows, extra_rows.loc[extra_rows["agency"] == name,
                                                   ["file_id", "row_number", "record_key"]]]).drop_duplicates(
                ["file_id", "row_number"])
        if rows.empty:
            continue
        removed.append(pd.DataFrame({"agency": name, "record_key": rows["record_key"].dropna()}))
        rows = rows[["file_id", "row_number"]].astype("int64")
        with wh.staged(conn, "_fh_rows", rows):
            match = "exists (select 1 from _fh_rows r where r.file_id = {t}.file_id and r.row_number = {t}.row_number)"
            counts["ops.held_rows"] += _run(
                wh, conn, f"delete from ops.held_rows where agency = :a and {match.format(t='ops.held_rows')}",
                {"a": name})
            counts[f"raw.{name}"] = _run(wh, conn, f"delete from raw.{name} where {match.format(t=f'raw.{name}')}")
        wh.insert(conn, "ops.removed_rows", rows.assign(agency=name, cause=cause, removed_at=now))
    gone = pd.concat(removed, ignore_index=True).dropna().drop_duplicates()
    gone["mention_id"] = gone["agency"] + "|" + gone["record_key"]
    with wh.staged(conn, "_fh_gone", gone[["agency", "record_key", "mention_id"]]):
        for table, where in BY_RECORD.items():
            counts[table] += _run(wh, conn, f"delete from {table} where {where}")
    counts.update(_drop_orphans(wh, conn))
    return {k: v for k, v in counts.items() if v}, gone[["agency", "record_key"]]


def _drop_orphans(wh: Warehouse, conn: Connection) -> Counter[str]:
    """Persons left without records, and families left without members, go with what names them."""
    orphans = wh.read("select person_id from linked.persons p where not exists "
                      "(select 1 from linked.mention_person m where m.person_id = p.person_id)", conn=conn)
    counts: Counter[str] = Counter()
    with wh.staged(conn, "_fh_orphans", orphans.astype({"person_id": object})):
        for table, where in BY_PERSON.items():
            counts[table] += _run(wh, conn, f"delete from {table} where {where}")
    empty = "not exists (select 1 from linked.person_family m where m.family_id = {t}.family_id)"
    for table in BY_EMPTY_FAMILY:
        counts[table] += _run(wh, conn, f"delete from {table} where family_id in (select family_id from "
                                        f"linked.families f where {empty.format(t='f')})")
    counts["linked.families"] += _run(
        wh, conn, f"delete from linked.families where {empty.format(t='linked.families')}")
    wh.execute(conn, "update linked.families set n_members = (select count(*) from linked.person_family m "
                     "where m.family_id = linked.families.family_id)")
    for kind, table, column in (("person", "linked.persons", "person_id"), ("family", "linked.families", "family_id")):
        counts[f"ops.pseudonyms ({kind})"] += _run(
            wh, conn, f"delete from ops.pseudonyms where kind = :k and not exists "
                      f"(select 1 from {table} t where t.{column} = ops.pseudonyms.real_id)", {"k": kind})
    return counts


def _run(wh: Warehouse, conn: Connection, sql: str, params: dict | None = None) -> int:
    """Run a delete or insert and return how many rows it touched (DuckDB gives no rowcount)."""
    return len(wh.execute(conn, sql + " returning 1", params).fetchall())


# -- erasure -----------------------------------------------------------------------------------
def erase_person(wh: Warehouse, person_id: str, *, who: str, reason: str | None) -> dict:
    """Erase one person (by ``person_id``) from every layer, tombstone their records, audit it."""
    reason = audit.require_reason(reason)
    erasure_id = uuid.uuid4().hex
    with wh.begin() as conn:
        _lock(wh, conn, shared=False)
        mentions = wh.read("select m.agency, m.record_key, m.source_person_id from staging.person_mentions m "
                           "join linked.mention_person p on p.mention_id = m.mention_id where p.person_id = :p",
                           {"p": person_id}, conn)
        family = wh.read("select family_id from linked.person_family where person_id = :p", {"p": person_id}, conn)
        if mentions.empty and family.empty:
            now = _successors(wh, conn, person_id)
            if now:
                raise ErasureError(f"person {person_id} was merged or split since: their records are now under "
                                   f"{', '.join(now)}; check whose they are and erase that id")
            raise ErasureError(f"no person {person_id} in the warehouse (see `familyhub audit --person "
                               f"{person_id}` for an earlier erasure)")
        purged, gone = _purge(wh, conn, mentions, "erased", source_ids=mentions["source_person_id"])
        counts = Counter(purged) + _drop_orphans_of(wh, conn, person_id)
        if len(family):  # costs that counted their events: the next report recomputes them without
            counts["cohort.family_outcomes"] += _run(wh, conn, "delete from cohort.family_outcomes where "
                                                               "family_id = :f", {"f": family["family_id"].iloc[0]})
        tombstones = pd.concat([pd.DataFrame({"agency": a, "key_hash": key_hashes(a, g["record_key"])})
                                for a, g in gone.groupby("agency")], ignore_index=True) if len(gone) else None
        if tombstones is not None:
            with wh.staged(conn, "_fh_tomb", tombstones.drop_duplicates()):
                counts["ops.tombstones"] = _run(
                    wh, conn, "insert into ops.tombstones (agency, key_hash, erasure_id, erased_at) "
                              "select agency, key_hash, :e, :t from _fh_tomb b where not exists (select 1 from "
                              "ops.tombstones o where o.agency = b.agency and o.key_hash = b.key_hash)",
                    {"e": erasure_id, "t": datetime.now()})
        summary = {"erasure_id": erasure_id, "person_id": person_id, "records": len(gone),
                   "removed": {k: v for k, v in sorted(counts.items()) if v}}
        audit.record(wh, "erase", who=who, reason=reason, person_id=person_id,
                     family_id=family["family_id"].iloc[0] if len(family) else None,
                     detail=json.dumps(summary), conn=conn)
    return summary


def _successors(wh: Warehouse, conn: Connection, person_id: str) -> list[str]:
    """The current person ids a retired id's records went to, following merges and splits."""
    moves = wh.read("select old_id, new_id from linked.lineage_events where kind = 'person' "
                    "and event in ('merged', 'split')", conn=conn)
    current = set(wh.read("select person_id from linked.persons", conn=conn)["person_id"])
    found, frontier = set(), {person_id}
    while frontier:
        found |= frontier
        frontier = set(moves.loc[moves["old_id"].isin(frontier), "new_id"]) - found
    return sorted((found - {person_id}) & current)


def _drop_orphans_of(wh: Warehouse, conn: Connection, person_id: str) -> Counter[str]:
    """The person's own rows even if some record of theirs was never linked (belt and braces)."""
    counts: Counter[str] = Counter()
    for table in ("linked.mention_person", "linked.person_family", "linked.persons"):
        counts[f"{table} (direct)"] = _run(wh, conn, f"delete from {table} where person_id = :p", {"p": person_id})
    if sum(counts.values()):
        counts.update(_drop_orphans(wh, conn))
    return counts


# -- retention ---------------------------------------------------------------------------------
def retention_days() -> int:
    """The retention period in days: ``FAMILYHUB_RETENTION_DAYS``, else seven years."""
    return settings().retention_days


def _expired(wh: Warehouse, conn: Connection, cutoff: date) -> pd.DataFrame:
    """Records whose last event date is before the cutoff; open-ended ones are kept while open."""
    events = wh.read(f"select agency, record_key, {', '.join(_DATE_COLUMNS)} from staging.events", conn=conn)
    if events.empty:
        return events[["agency", "record_key"]]
    dates = events[_DATE_COLUMNS].apply(pd.to_datetime)
    last = dates.max(axis=1)
    open_ended = {a.name for a in load_agencies().values() if "end_date" in a.event}
    still_open = events["agency"].isin(open_ended) & dates["end_date"].isna()
    return events.loc[(last < pd.Timestamp(cutoff)) & ~still_open, ["agency", "record_key"]]


def apply_retention(wh: Warehouse, *, who: str, days: int | None = None, as_of: date | None = None,
                    reason: str | None = None, dry_run: bool = False) -> dict:
    """Remove records older than the retention period (by event date) and what derives from them.

    Held-back rows, which have no trusted event date, go when their file's extract date is
    older than the period. ``dry_run`` counts without removing.
    """
    days = retention_days() if days is None else days
    if days < 1:
        raise ErasureError("the retention period must be at least one day")
    cutoff = (as_of or date.today()) - timedelta(days=days)
    with wh.begin() as conn:
        _lock(wh, conn, shared=False)
        records = _expired(wh, conn, cutoff)
        held = wh.read("select h.agency, h.file_id, h.row_number, h.record_key from ops.held_rows h "
                       "join ops.files f on f.file_id = h.file_id where h.status = 'held' and f.extract_date < :c",
                       {"c": cutoff}, conn)
        needs = wh.read(f"select count(distinct need_id) as n from cohort.recorded_needs where {_OLD_NEEDS}",
                        {"c": cutoff}, conn)["n"].iloc[0]
        summary = {"cutoff": cutoff.isoformat(), "days": days, "records": len(records), "held_rows": len(held),
                   "recorded_needs": int(needs)}
        if dry_run:
            return summary | {"dry_run": True}
        purged, _ = _purge(wh, conn, records, "retention", extra_rows=held)
        counts = Counter(purged)
        counts["cohort.recorded_needs"] += _run(wh, conn, f"delete from cohort.recorded_needs where {_OLD_NEEDS}",
                                                {"c": cutoff})
        summary["removed"] = {k: v for k, v in counts.items() if v}
        audit.record(wh, "retention", who=who, reason=reason or f"retention period {days} days",
                     detail=json.dumps(summary), conn=conn)
    return summary
