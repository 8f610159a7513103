"""The cohort stage: evaluate a programme over the linked families, in the warehouse.

Reads events and members of the ``linked`` layer, calls the pure rules engine
(:mod:`pipeline.programme.cohort`) and keeps the result per (programme, as-of date) in
``cohort.results`` and ``cohort.evidence``, so several evaluations coexist. Needs recorded at
the family assessment (:mod:`pipeline.programme.needs`) count too, with ``agency = 'recorded'``.
The evaluation marked active is the one ``reporting.family_view`` shows.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pyarrow as pa

from pipeline.ingest.canonical import EVENT_COLUMNS
from pipeline.programme.cohort import (
    COHORT_COLUMNS,
    EVIDENCE_OUTPUT,
    CohortResult,
    Horizon,
    evaluate,
    event_horizon,
    load_programme,
)
from pipeline.programme.needs import recorded_frame
from pipeline.warehouse.engine import Warehouse

__all__ = ["evaluate_cohort", "load_inputs", "set_active"]

#: which row an event is: no rule reads them, and the mention ids alone are a seventh of the bytes read
_EVENT_KEYS = ("mention_id", "file_id", "version")
#: rent arrears (numeric) as a float: with a numeric column, ``read_bulk`` reads row by row
_CAST = {"rent_arrears": "cast(e.rent_arrears as double precision) as rent_arrears"}


def _events_sql(keys: bool, horizon: Horizon | None) -> str:
    """Events with their person and family; ``keys``: with each event's mention id, file and version.
    Every column is named (the loader's list), for ``Warehouse.read_bulk``: COPY parsed by Arrow,
    not a Python tuple per row, and equal strings handed over as one object (cheaper grouping)."""
    columns = ", ".join(_CAST.get(c, f"e.{c}") for c in EVENT_COLUMNS if keys or c not in _EVENT_KEYS)
    return (f"select {columns}, p.person_id, f.family_id from staging.events e "
            "join linked.mention_person p on p.mention_id = e.mention_id "
            "join linked.person_family f on f.person_id = p.person_id" + (_within(horizon) if horizon else ""))


def _within(horizon: Horizon) -> str:
    """The events an evaluation with this horizon can count: a date on or after its first day, a
    span still open, a school term code (whose dates the engine reads) of its first term year or
    later or among its terms, or any other term text (the engine reads codes in any script's
    digits); an event with none of these is history no window reaches, most of a warehouse's
    events after a few years (reading them made every month slower). Events alone only give a
    family a cohort row when it has no members: :func:`load_inputs` then reads them all."""
    day = f"date '{horizon.first_day:%Y-%m-%d}'"
    codes = ", ".join(f"'{code}'" for code in horizon.terms)  # made by the engine: YYYY-AUT|SPR|SUM
    listed = f" or e.term in ({codes})" if codes else ""
    return (f" where e.event_date >= {day} or e.start_date >= {day} or e.end_date >= {day}"
            f" or e.asb_complaint_date >= {day} or (e.start_date is not null and e.end_date is null)"
            " or case when e.term ~ '^[0-9]{4}-(AUT|SPR|SUM)$'"
            f" then cast(left(e.term, 4) as integer) >= {horizon.first_term_year}{listed} else e.term is not null end")


#: every person of a family, ``unknown`` when linked.persons lacks them (they are no member)
_MEMBERS = """
select f.family_id, f.person_id, p.date_of_birth as dob, coalesce(f.postcode, p.postcode) as postcode,
  p.person_id is null as unknown
from linked.person_family f left join linked.persons p on p.person_id = f.person_id
"""


def _dates(values: pd.Series) -> pd.Series:
    """The driver's dates as datetime64: Arrow converts date objects in C, ten times faster than
    ``pd.to_datetime`` (a tenth of a second per column of a monthly run's events); anything
    else Arrow will not take as dates goes through pandas."""
    try:
        array = pa.array(values.to_numpy(dtype=object), type=pa.date32(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.to_datetime(values)
    return pd.Series(array.to_pandas(date_as_object=False), index=values.index, name=values.name).astype(
        "datetime64[ns]")


def load_inputs(wh: Warehouse, keys: bool = True, horizon: Horizon | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Events (with person and family), members and referrals, as the rules engine takes them;
    ``keys=False`` leaves out each event's mention id, file and version (an evaluation needs none);
    ``horizon``: only the events an evaluation with it can count (:func:`event_horizon`)."""
    members = wh.read_bulk(_MEMBERS)
    unknown = members.pop("unknown").astype(bool)
    if unknown.any():  # no members: a family of them only has a cohort row through its events, old ones too
        members, horizon = members.loc[~unknown].reset_index(drop=True), None
    members["dob"] = _dates(members["dob"])
    events = wh.read_bulk(_events_sql(keys, horizon))
    for col in ("event_date", "start_date", "end_date", "asb_complaint_date"):
        events[col] = _dates(events[col])
    referrals = wh.read_bulk("select family_id, service, reason, referral_date from cohort.referrals")
    referrals["referral_date"] = _dates(referrals["referral_date"])
    return events, members, referrals


def _activate(wh: Warehouse, conn, programme: str, as_of: date) -> None:
    wh.execute(conn, "delete from cohort.active")
    wh.execute(conn, "insert into cohort.active (programme, as_of, set_at) values (:p, :d, :t)",
               {"p": programme, "d": as_of, "t": datetime.now()})


def set_active(wh: Warehouse, programme: str, as_of: date) -> None:
    """Make (programme, as_of) the evaluation the family view shows."""
    with wh.begin() as conn:
        _activate(wh, conn, programme, as_of)


def evaluate_cohort(wh: Warehouse, programme: str, as_of: date, active: bool = True,
                    inputs: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = None) -> CohortResult:
    """Evaluate ``programme`` at ``as_of`` and replace that evaluation's rows in the warehouse."""
    prog = load_programme(programme)
    events, members, referrals = inputs or load_inputs(wh, keys=False, horizon=event_horizon(prog, as_of))
    if members.empty:
        raise ValueError("no linked families in the warehouse: run `familyhub link` first")
    result = evaluate(prog, events, members, as_of, referrals=referrals, recorded=recorded_frame(wh))
    cohort = result.cohort[[c for c in COHORT_COLUMNS if c != "exclusion"]].assign(
        programme=prog.name, as_of=pd.Timestamp(as_of))
    evidence = result.evidence[EVIDENCE_OUTPUT].assign(programme=prog.name, as_of=pd.Timestamp(as_of))
    with wh.begin() as conn:
        for table in ("cohort.results", "cohort.evidence"):
            wh.execute(conn, f"delete from {table} where programme = :p and as_of = :d",
                       {"p": prog.name, "d": as_of})
        wh.insert(conn, "cohort.results", cohort)
        wh.insert(conn, "cohort.evidence", evidence)
        if active:
            _activate(wh, conn, prog.name, as_of)
    return result
