"""Warehouse consistency checks: no partial file, counts that reconcile, no orphan rows.

Used after crashes, erasures and retention runs: every ledger row is loaded or refused, a
loaded file's rows are all accounted for (in raw, or noted in ``ops.removed_rows``), a
refused file left nothing behind, and every derived row points at a row that exists.
"""

from __future__ import annotations

from pipeline.ingest.agencies import load_agencies
from pipeline.warehouse.engine import Warehouse

__all__ = ["problems"]

_ORPHANS = {
    "ledger rows neither loaded nor refused": "select count(*) from ops.files where status not in ('loaded', 'refused')",
    "mentions without an event": "select count(*) from staging.person_mentions m where not exists "
                                 "(select 1 from staging.events e where e.mention_id = m.mention_id)",
    "events without a mention": "select count(*) from staging.events e where not exists "
                                "(select 1 from staging.person_mentions m where m.mention_id = e.mention_id)",
    "mentions of files not loaded": "select count(*) from staging.person_mentions m where not exists "
                                    "(select 1 from ops.files f where f.file_id = m.file_id and f.status = 'loaded')",
    "held rows of files not loaded": "select count(*) from ops.held_rows h where not exists "
                                     "(select 1 from ops.files f where f.file_id = h.file_id and f.status = 'loaded')",
    "links of unknown mentions": "select count(*) from linked.mention_person p where not exists "
                                 "(select 1 from staging.person_mentions m where m.mention_id = p.mention_id)",
    "links to unknown persons": "select count(*) from linked.mention_person p where not exists "
                                "(select 1 from linked.persons x where x.person_id = p.person_id)",
    "persons without records": "select count(*) from linked.persons x where not exists "
                               "(select 1 from linked.mention_person p where p.person_id = x.person_id)",
    "family members who are not persons": "select count(*) from linked.person_family f where not exists "
                                          "(select 1 from linked.persons x where x.person_id = f.person_id)",
    "members of unknown families": "select count(*) from linked.person_family m where not exists "
                                   "(select 1 from linked.families f where f.family_id = m.family_id)",
    "families without members": "select count(*) from linked.families f where not exists "
                                "(select 1 from linked.person_family m where m.family_id = f.family_id)",
}


def _reconcile(agency: str) -> str:
    """Loaded files of one agency whose ledger counts do not match the rows that are there."""
    return f"""
        with raw_rows as (select file_id, count(*) as n from raw.{agency} group by file_id),
        removed as (select file_id, count(*) as n,
                           sum(case when cause = 'tombstoned' then 1 else 0 end) as skipped,
                           sum(case when cause <> 'tombstoned' then 1 else 0 end) as purged
                    from ops.removed_rows group by file_id),
        held as (select file_id, count(*) as n from ops.held_rows where status = 'held' group by file_id)
        select count(*) from ops.files f
        left join raw_rows r on r.file_id = f.file_id
        left join removed x on x.file_id = f.file_id
        left join held h on h.file_id = f.file_id
        where f.agency = '{agency}' and f.status = 'loaded' and (
          f.rows_sent <> coalesce(r.n, 0) + coalesce(x.n, 0)
          or f.rows_loaded + f.rows_held + coalesce(x.skipped, 0) <> f.rows_sent
          or (coalesce(x.purged, 0) = 0 and f.rows_held <> coalesce(h.n, 0)))"""


def _per_agency(agency: str) -> dict[str, str]:
    row = "r.file_id = {t}.file_id and r.row_number = {t}.row_number"
    return {
        f"{agency}: loaded files whose counts do not reconcile": _reconcile(agency),
        f"{agency}: raw rows of files not loaded": (
            f"select count(*) from raw.{agency} r where not exists "
            "(select 1 from ops.files f where f.file_id = r.file_id and f.status = 'loaded')"),
        f"{agency}: mentions without a raw row": (
            f"select count(*) from staging.person_mentions m where m.agency = '{agency}' and not exists "
            f"(select 1 from raw.{agency} r where {row.format(t='m')})"),
        f"{agency}: held rows without a raw row": (
            f"select count(*) from ops.held_rows h where h.agency = '{agency}' and not exists "
            f"(select 1 from raw.{agency} r where {row.format(t='h')})"),
    }


def problems(wh: Warehouse) -> dict[str, int]:
    """Each failed check with the number of offending rows; empty when the warehouse is consistent."""
    checks = dict(_ORPHANS)
    for agency in load_agencies():
        checks.update(_per_agency(agency))
    found = {}
    with wh.engine.connect() as conn:
        for name, sql in checks.items():
            n = conn.exec_driver_sql(sql).scalar()
            if n:
                found[name] = int(n)
    return found
