"""Payment-by-results claims: which attached cases can be claimed for, how much, and why.

The rules are ``shared/spec/programme.md`` ("Payment by results"); the amounts, routes,
windows, thresholds and the authority's yearly commitments are configuration
(``pipeline/programmes/payments/<programme>.yaml``, also looked up in ``payments/`` of the
folders in ``FAMILYHUB_PROGRAMMES``). :func:`assess` is pure (frames in, frames out);
:func:`make_claims` runs it on the warehouse and records the window's claims in
``cohort.claims``, whose key makes a second claim of the same payment for the same case
and programme impossible in any window.

Claims are keyed on the case (:mod:`pipeline.programme.cases`), not on a family id that can
retire: :func:`make_claims` assesses each case on the families it covers now, and a family two
cases cover (a merge the coordinator has not decided) is claimed through one case only. Money
is ``Decimal``, rounded to the penny (half up) per claim.

Decisions where the spec leaves room (each in the payments file where it is a number):

- A family is claimed under a programme only if it was *eligible* under it on its first
  attachment date (local inclusions are never claimed); its programme year is the year of
  that date, and dates outside the configured years are not claimable.
- Attachment fees go, within each year's cap, to the families attached first.
- A results route that compares n months needs the claim date at least n months after
  attachment, so progress is judged on time the family was worked with.
- Continuous employment needs the claim to have ended on or after attachment.
- A fall measure with nothing before attachment is met only when nothing happened since.
- The ``sustained`` route (sf2022, :mod:`pipeline.programme.sustained`) judges the needs at
  attachment, recorded needs included, after the case closed; a programme without an
  attachment fee makes results claims only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.governance.exports import export_identifiable
from pipeline.programme.cohort import Programme, evaluate, load_programme
from pipeline.programme.cohort.config import Match
from pipeline.programme.cohort.frames import prepare_events, prepare_members
from pipeline.programme.cohort.rules import Context, match_mask
from pipeline.programme.payments import (
    PENNY,
    ClaimWindow,
    Employment,
    Falls,
    Measure,
    NotMet,
    Payments,
    load_payments,
)
from pipeline.programme.sustained import sustained
from pipeline.warehouse.engine import Warehouse

__all__ = ["CLAIM_COLUMNS", "Assessment", "assess", "cap_status", "make_claims", "write_return"]

CLAIM_COLUMNS = ["claim_id", "programme", "claim_window", "claim_date", "family_id", "payment", "result",
                 "programme_year", "attached_on", "amount", "evidence"]
EVIDENCE_COLUMNS = ["claim_id", "item", "person_id", "agency", "record_key", "event_date", "detail"]
_EPS = 1e-9


# -- assessment -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Assessment:
    """Claims of one window (`claims`, `evidence`), what was not claimed and why, the cap."""

    claims: pd.DataFrame
    evidence: pd.DataFrame
    not_claimed: pd.DataFrame
    cap: pd.DataFrame


def _months_before(day: pd.Timestamp, months: int) -> pd.Timestamp:
    return day - pd.DateOffset(months=months)


def _ctx(programme: Programme, end: pd.Timestamp, months: int) -> Context:
    """A context whose default window is the `months` up to and including `end`."""
    days = (end - _months_before(end, months)).days
    return Context(end, days, programme.school_terms, programme.adult_age)


def _at_attachment(programme: Programme, events: pd.DataFrame, members: pd.DataFrame, first: pd.Series,
                   referrals: pd.DataFrame | None, needs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each family's cohort row and evidence on its own attachment date (one evaluation per date);
    recorded needs open then count, with agency 'recorded'."""
    rows, evidence = [], []
    for day, families in first.groupby(first).groups.items():
        ids = set(families)
        result = evaluate(programme, events[events["family_id"].isin(ids)],
                          members[members["family_id"].isin(ids)], day,
                          referrals=None if referrals is None else referrals[referrals["family_id"].isin(ids)],
                          recorded=needs[needs["family_id"].isin(ids)])
        rows.append(result.cohort[result.cohort["family_id"].isin(ids)])
        evidence.append(result.evidence[result.evidence["family_id"].isin(ids)])
    cohort = pd.concat(rows, ignore_index=True).set_index("family_id")
    return cohort, pd.concat(evidence, ignore_index=True)


def _codes(text: pd.Series) -> pd.Series:
    """Criterion codes of comma-separated text, as frozensets (empty for none)."""
    return text.fillna("").astype(str).map(lambda t: frozenset(filter(None, t.split(","))))


@dataclass(frozen=True)
class _Inputs:
    """What the results tests read: attached families' events, raw and prepared, and dates."""

    programme: Programme
    events: pd.DataFrame
    members: pd.DataFrame
    ev: pd.DataFrame
    claim_date: pd.Timestamp
    first: pd.Series  # first attachment date by family_id
    met_at: pd.Series  # criteria met at attachment by family_id
    attached: pd.DataFrame  # evidence at attachment
    closed: pd.Series  # closing date of the latest episode by family_id (NaT while open)
    needs: pd.DataFrame  # recorded needs as they now stand (pipeline.programme.needs)

    def by_attachment_date(self) -> dict[pd.Timestamp, pd.Index]:
        return self.first.groupby(self.first).groups


def _not_met(test: NotMet, inp: _Inputs) -> tuple[pd.Series, pd.DataFrame]:
    families, claim_date = inp.first.index, inp.claim_date
    ctx = _ctx(inp.programme, claim_date, test.months)
    later = evaluate(inp.programme.model_copy(update={"window_days": ctx.window_days}), inp.events,
                     inp.members, claim_date, recorded=inp.needs)
    now = _codes(later.cohort.set_index("family_id")["criteria"].reindex(families))
    judged = inp.met_at if test.criteria == "at_attachment" else pd.Series(
        [frozenset(test.criteria)] * len(families), index=families, dtype=object)
    ok = pd.Series([not (j & n) for j, n in zip(judged, now, strict=True)], index=families)
    first_day = (_months_before(claim_date, test.months) + timedelta(days=1)).date()
    note = " (met at attachment)" if test.criteria == "at_attachment" else ""
    rows = [{"family_id": f, "item": code, "summary": True,
             "detail": f"{code}: not met from {first_day} to {claim_date.date()}{note}"}
            for f, codes in judged[ok].items() for code in sorted(codes)]
    detail = pd.DataFrame(rows, columns=["family_id", "item", "summary", "detail"])
    if test.criteria == "at_attachment":  # what was met, event by event, for the auditor
        shown = inp.attached[inp.attached["family_id"].isin(families[ok])]
        detail = pd.concat([detail, shown.rename(columns={"criterion": "item"}).assign(
            detail="at attachment: " + shown["detail"].astype(str))], ignore_index=True)
    return ok, detail


def _occurrences(match: Match, ev: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """Matching events, one row per family and occurrence (first record-key part and date)."""
    date_column = match.window.date
    hits = ev.loc[match_mask(match, ev, ctx), ["family_id", "person_id", "agency", "record_key", date_column]]
    hits = hits.rename(columns={date_column: "event_date"}).assign(agency=lambda h: h["agency"].astype(str))
    occurrence = (hits["agency"] + "|" + hits["record_key"].str.split("|").str[0] + "|"
                  + hits["event_date"].astype(str))
    return hits.assign(occurrence=occurrence).drop_duplicates(["family_id", "occurrence"])


def _counted(measure: Measure, inp: _Inputs, months: int, period: str) -> pd.DataFrame:
    """A measure's occurrences in each family's n months up to attachment, or up to the claim date."""
    if period == "after":
        windows = [(inp.claim_date, inp.first.index)]
    else:
        windows = list(inp.by_attachment_date().items())
    found = [_occurrences(match, inp.ev[inp.ev["family_id"].isin(families)], _ctx(inp.programme, end, months))
             for end, families in windows for match in measure.events]
    hits = pd.concat(found, ignore_index=True).drop_duplicates(["family_id", "occurrence"])
    return hits.assign(detail=period + ": " + hits["agency"] + " " + hits["record_key"].astype(str))


def _falls(test: Falls, inp: _Inputs) -> tuple[pd.Series, pd.DataFrame]:
    families = inp.first.index
    ok = pd.Series(True, index=families)
    parts = []
    for name, measure in test.measures.items():
        before_hits, after_hits = (_counted(measure, inp, test.months, p) for p in ("before", "after"))
        before = before_hits.groupby("family_id").size().reindex(families, fill_value=0)
        after = after_hits.groupby("family_id").size().reindex(families, fill_value=0)
        share = float(measure.at_least)
        ok &= np.where(before > 0, after <= before * (1 - share) + _EPS, after == 0)
        fall = ((before - after) / before.where(before > 0)).fillna(0.0)
        parts.append(pd.DataFrame({
            "family_id": families, "item": name, "summary": True,
            "detail": [f"{name}: {b} in the {test.months} months to attachment, {a} in the latest "
                       f"{test.months} months ({f'fall {x:.0%}' if b else 'none before'}; needs a fall "
                       f"of {share:.0%})" for b, a, x in zip(before, after, fall, strict=True)]}))
        parts.append(pd.concat([before_hits, after_hits], ignore_index=True).assign(item=name))
    return ok, pd.concat(parts, ignore_index=True)


def _employment(test: Employment, inp: _Inputs) -> tuple[pd.Series, pd.DataFrame]:
    ev, claim_date, first = inp.ev, inp.claim_date, inp.first
    claims = ev[(ev["agency"] == test.agency) & (ev["start_date"] <= claim_date)]
    claims = claims.assign(open=claims["end_date"].isna() | (claims["end_date"] > claim_date),
                           adult=claims["age"] >= inp.programme.adult_age)
    person = claims.groupby("person_id").agg(family_id=("family_id", "first"), open=("open", "any"),
                                             last_end=("end_date", "max"), adult=("adult", "any"))
    latest_end = claim_date - pd.Timedelta(weeks=test.weeks)
    passed = person[~person["open"] & person["adult"] & (person["last_end"] <= latest_end)
                    & (person["last_end"] >= person["family_id"].map(first))]
    passed = passed[~passed["family_id"].duplicated()].reset_index()
    ended = claims.merge(passed[["person_id", "last_end"]], left_on=["person_id", "end_date"],
                         right_on=["person_id", "last_end"]).drop_duplicates("person_id")
    detail = ended.assign(item="employment", summary=True, event_date=ended["end_date"], detail=(
        ended["event_type"].astype(str) + " claim ended " + ended["end_date"].dt.strftime("%Y-%m-%d")
        + f", {test.weeks} weeks or more before the claim date; no claim since"))
    return pd.Series(first.index.isin(passed["family_id"]), index=first.index), detail


_TESTS = {"not_met": _not_met, "falls": _falls, "employment": _employment, "sustained": sustained}


def _routes(payments: Payments, inp: _Inputs) -> tuple[pd.Series, pd.DataFrame]:
    """The first results route each family meets (None where none), and that route's evidence."""
    families = inp.first.index
    route = pd.Series(None, index=families, dtype=object)
    evidence = []
    for name, spec in payments.results.items():
        ok = inp.first <= _months_before(inp.claim_date, spec.months)
        parts = []
        for key, check in _TESTS.items():
            test = getattr(spec, key)
            if test is not None:
                passed, detail = check(test, inp)
                ok &= passed
                parts.append(detail)
        won = ok & route.isna()
        route[won] = name
        evidence.extend(p[p["family_id"].isin(families[won])] for p in parts if won.any())
    return route, pd.concat(evidence, ignore_index=True) if evidence else pd.DataFrame(columns=["family_id"])


def cap_status(payments: Payments, claimed_years: pd.Series) -> pd.DataFrame:
    """Per programme year: families committed, the attachment-fee cap, fees claimed, remaining
    (no rows for a programme without attachment fees)."""
    if not payments.pays_attachment:
        return pd.DataFrame(columns=["programme_year", "starts", "families", "cap", "claimed", "remaining"])
    counts = claimed_years.value_counts()
    rows = [{"programme_year": i, "starts": y.from_, "families": y.families, "cap": payments.cap(i),
             "claimed": int(counts.get(i, 0))} for i, y in enumerate(payments.years, start=1)]
    cap = pd.DataFrame(rows)
    return cap.assign(remaining=(cap["cap"] - cap["claimed"]).clip(lower=0))


def assess(programme: Programme, payments: Payments, events: pd.DataFrame, members: pd.DataFrame,
           attachments: pd.DataFrame, window: ClaimWindow, claim_date: date | None = None,
           claimed: pd.DataFrame | None = None, referrals: pd.DataFrame | None = None,
           needs: pd.DataFrame | None = None) -> Assessment:
    """The claims of one window.

    `attachments`: family_id, attached_on, optional closed_on (every episode; the first
    attachment counts, the latest episode's closing date closes the case); `claimed`:
    family_id, payment, programme_year of claims already made in other windows (never made
    again). `events`, `members`, `referrals`, `needs` (recorded): as the cohort engine takes them.
    """
    claim_date = pd.Timestamp(claim_date or window.end)
    if not window.start <= claim_date.date() <= window.end:
        raise ValueError(f"claim date {claim_date.date()} is outside window {window.name}")
    claimed = claimed if claimed is not None else pd.DataFrame(columns=["family_id", "payment", "programme_year"])
    first = pd.to_datetime(attachments.groupby("family_id")["attached_on"].min())
    first = first[first <= claim_date].sort_index().sort_values(kind="stable")  # by date, then family
    empty = pd.DataFrame(columns=CLAIM_COLUMNS)
    prior = claimed.groupby("payment")["family_id"].agg(set).to_dict()
    cap_before = claimed.loc[claimed["payment"] == "attachment", "programme_year"].astype(int)
    if first.empty:
        return Assessment(empty, pd.DataFrame(columns=EVIDENCE_COLUMNS),
                          pd.DataFrame(columns=["family_id", "payment", "reason"]), cap_status(payments, cap_before))
    needs = (needs if needs is not None else pd.DataFrame()).reindex(
        columns=["need_id", "family_id", "headline", "identified_on", "evidence", "recorded_by", "outcome", "closed_on"])
    for col in ("identified_on", "closed_on"):
        needs[col] = pd.to_datetime(needs[col])
    episodes = attachments.reindex(columns=["family_id", "attached_on", "closed_on"]).sort_values("attached_on")
    closed = pd.to_datetime(episodes.drop_duplicates("family_id", keep="last").set_index("family_id")["closed_on"])
    closed = closed.where(closed <= claim_date)
    cohort, attached = _at_attachment(programme, events, members, first, referrals, needs)
    year = payments.year_of(first)
    eligible = cohort["eligible"].reindex(first.index).fillna(False).astype(bool)
    skipped = []

    def skip(mask: pd.Series, payment: str, reason: str | pd.Series) -> None:
        skipped.append(pd.DataFrame({"family_id": first.index[mask], "payment": payment,
                                     "reason": reason[mask] if isinstance(reason, pd.Series) else reason}))

    basis = cohort["basis"].reindex(first.index).fillna("not in the cohort").astype(str)
    usable = eligible & (year > 0)
    payments_made = ("attachment", "results") if payments.pays_attachment else ("results",)
    for payment in payments_made:
        skip(~eligible, payment, f"not eligible under {programme.name} on its attachment date (" + basis + ")")
        skip(eligible & (year == 0), payment, "attached outside the programme years configured")
    done = {p: first.index.isin(list(prior.get(p, ()))) for p in ("attachment", "results")}
    for payment, mask in done.items():
        skip(usable & mask, payment, "already claimed in an earlier window")

    # attachment fees: first attached first, within each year's cap
    want = usable & ~done["attachment"] & payments.pays_attachment
    order = want[want].index
    rank = year[order].groupby(year[order]).cumcount()
    allowed = year[order].map(lambda y: payments.cap(y) - int((cap_before == y).sum()))
    fee_families = order[(rank < allowed).to_numpy()]
    skip(first.index.isin(order.difference(fee_families)), "attachment", "attachment-fee cap reached for its year")

    # results: the first route met
    want_results = usable & ~done["results"]
    ids = first.index[want_results]
    mine = events[events["family_id"].isin(ids)]
    inp = _Inputs(programme, mine, members[members["family_id"].isin(ids)],
                  prepare_events(mine, prepare_members(members, claim_date)), claim_date, first[ids],
                  _codes(cohort["criteria"].reindex(ids)), attached, closed.reindex(ids),
                  needs[needs["family_id"].isin(ids)])
    route, route_evidence = _routes(payments, inp)
    skip(first.index.isin(route.index[route.isna()]), "results", "no result yet")
    results_families = route.index[route.notna()]

    claims = pd.concat([
        pd.DataFrame({"family_id": fee_families, "payment": "attachment", "result": None}),
        pd.DataFrame({"family_id": results_families, "payment": "results",
                      "result": route[results_families].to_numpy()}),
    ], ignore_index=True)
    claims["programme_year"] = year.reindex(claims["family_id"]).to_numpy()
    claims["attached_on"] = first.reindex(claims["family_id"]).to_numpy()
    years = range(1, len(payments.years) + 1)
    fees = claims["programme_year"].map({y: payments.fee(y) for y in years})
    results = claims["programme_year"].map({y: payments.results_amount(y) for y in years})
    claims["amount"] = fees.where(claims["payment"] == "attachment", results).astype(object)  # Decimal pounds
    claims = claims.assign(programme=programme.name, claim_window=window.name, claim_date=claim_date)
    claims["claim_id"] = (programme.name + ":" + window.name + ":" + claims["family_id"] + ":"
                          + claims["payment"])

    fee_summary = pd.DataFrame({
        "family_id": fee_families, "item": "attachment", "summary": True,
        "detail": [f"attached on {first[f].date()} (programme year {year[f]}), eligible "
                   f"({cohort.at[f, 'basis']}): {cohort.at[f, 'criteria']}" for f in fee_families]})
    fee_evidence = pd.concat([fee_summary, attached[attached["family_id"].isin(fee_families)].rename(
        columns={"criterion": "item"})], ignore_index=True).assign(payment="attachment")
    evidence = pd.concat([fee_evidence, route_evidence.assign(payment="results")], ignore_index=True)
    evidence = evidence.merge(claims[["family_id", "payment", "claim_id"]], on=["family_id", "payment"])
    evidence = evidence.reindex(columns=[*EVIDENCE_COLUMNS, "summary"])
    summary = evidence[evidence["summary"].eq(True)].groupby("claim_id")["detail"].agg("; ".join)
    evidence = evidence[EVIDENCE_COLUMNS]
    claims["evidence"] = claims["claim_id"].map(summary).fillna("")
    not_claimed = (pd.concat(skipped, ignore_index=True) if skipped
                   else pd.DataFrame(columns=["family_id", "payment", "reason"]))
    new_fees = claims.loc[claims["payment"] == "attachment", "programme_year"].astype(int)
    return Assessment(claims[CLAIM_COLUMNS].sort_values(["payment", "family_id"], ignore_index=True),
                      evidence, not_claimed.sort_values(["payment", "family_id"], ignore_index=True),
                      cap_status(payments, pd.concat([cap_before, new_fees], ignore_index=True)))


# -- warehouse --------------------------------------------------------------------------------
def _as_cases(frame: pd.DataFrame, cover: pd.DataFrame) -> pd.DataFrame:
    """Rows of the families cases cover, relabelled by case (``family_id`` holds the case id)."""
    return frame.merge(cover, on="family_id").drop(columns="family_id").rename(columns={"case_id": "family_id"})


def _sharing(attached: pd.DataFrame, cover: pd.DataFrame, claimed_cases: set[str]) -> pd.DataFrame:
    """Cases left out because another case covers one of their families (a merge not yet decided):
    per family, the case already claimed, else the one attached first, else the first id, is kept."""
    first = attached.groupby("case_id")["attached_on"].min()
    both = cover[cover["case_id"].isin(first.index)].assign(
        claimed=lambda f: ~f["case_id"].isin(claimed_cases), first=lambda f: f["case_id"].map(first))
    both = both.sort_values(["family_id", "claimed", "first", "case_id"])
    keeper = both.groupby("family_id")["case_id"].transform("first")
    out = both[both["case_id"] != keeper].drop_duplicates("case_id")
    reason = ("family " + out["family_id"] + " is also covered by case " + keeper[out.index]
              + ": one case per family is claimed (the coordinator decides the merge)")
    return pd.DataFrame({"family_id": out["case_id"], "reason": reason})


def make_claims(wh: Warehouse, programme: str, window: str, claim_date: date | None = None,
                record: bool = True) -> Assessment:
    """Assess a window's claims per case on the warehouse and (re)record them.

    Re-running a window replaces that window's claims (same data: same claims); cases
    claimed in any other window are left out, and the table's key refuses a second claim.
    In the result ``family_id`` is the families the case covers (comma separated).
    """
    from pipeline.programme.identification import load_inputs
    from pipeline.programme.keyworkers import episodes
    from pipeline.programme.needs import recorded_frame

    prog = load_programme(programme)
    payments = load_payments(prog)
    win = ClaimWindow.parse(window)
    events, members, referrals = load_inputs(wh)
    cover = wh.read("select case_id, family_id from cohort.case_families")
    claimed = wh.read("select case_id as family_id, payment, programme_year from cohort.claims "
                      "where programme = :p and claim_window <> :w", {"p": prog.name, "w": win.name})
    attached = episodes(wh)
    shared = _sharing(attached, cover, set(claimed["family_id"]))
    attached = attached[~attached["case_id"].isin(shared["family_id"])]
    result = assess(prog, payments, _as_cases(events, cover), _as_cases(members, cover),
                    attached.assign(family_id=attached["case_id"]), win, claim_date, claimed,
                    _as_cases(referrals, cover), _as_cases(recorded_frame(wh), cover))
    families = cover.groupby("case_id")["family_id"].agg(lambda f: ",".join(sorted(f)))
    claims = result.claims.assign(case_id=result.claims["family_id"],
                                  family_id=result.claims["family_id"].map(families))
    not_claimed = pd.concat([result.not_claimed, *(shared.assign(payment=p) for p in ("attachment", "results"))],
                            ignore_index=True).rename(columns={"family_id": "case_id"})
    not_claimed.insert(0, "family_id", not_claimed["case_id"].map(families))
    result = Assessment(claims, result.evidence, not_claimed, result.cap)
    if record:
        params = {"p": prog.name, "w": win.name}
        with wh.begin() as conn:
            wh.execute(conn, "delete from cohort.claim_evidence where claim_id in (select claim_id from "
                             "cohort.claims where programme = :p and claim_window = :w)", params)
            wh.execute(conn, "delete from cohort.claims where programme = :p and claim_window = :w", params)
            wh.insert(conn, "cohort.claims", claims.assign(made_at=datetime.now().isoformat(sep=" ")))
            wh.insert(conn, "cohort.claim_evidence", result.evidence)
    return result


def write_return(wh: Warehouse, claims: pd.DataFrame, path: Path, *, who: str, reason: str | None) -> Path:
    """The claims as the CSV for the government return: formula-safe, and audited (one row per
    family in it) through :func:`pipeline.governance.exports.export_identifiable`."""
    columns = ["programme", "claim_window", "claim_date", "family_id", "payment", "result", "programme_year",
               "attached_on", "amount", "evidence"]
    out = claims[columns].copy()
    for col in ("claim_date", "attached_on"):
        out[col] = pd.to_datetime(out[col]).dt.strftime("%Y-%m-%d")
    out["amount"] = out["amount"].map(lambda a: f"{Decimal(str(a)).quantize(PENNY, ROUND_HALF_UP)}")
    window = ", ".join(sorted(set(out["programme"] + " " + out["claim_window"]))) or "no claims"
    return export_identifiable(wh, out, path, who=who, reason=reason, what=f"claims return ({window})")
