"""Evaluate a programme at an as-of date: criteria, evidence, eligibility, cost, priority.

Pure frames in, frames out, all families at once. The result keeps the programme and the
date, so several evaluations can coexist and be compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import yaml

from pipeline.programme.cohort.config import Condition, Match, Programme, load_programme
from pipeline.programme.cohort.costs import family_costs
from pipeline.programme.cohort.frames import prepare_events, prepare_members
from pipeline.programme.cohort.rules import EVIDENCE_COLUMNS, Context, condition_hits, match_mask

__all__ = [
    "COHORT_COLUMNS", "EVIDENCE_OUTPUT", "CohortResult", "compare", "evaluate", "rule_differences",
]

COHORT_COLUMNS = [
    "family_id", "programme", "as_of", "criteria", "n_criteria", "eligible", "basis",
    "priority_rank", "estimated_annual_cost", "exclusion",
]
EVIDENCE_OUTPUT = ["family_id", "programme", "as_of", "criterion", "person_id", "agency",
                   "record_key", "event_date", "detail"]
_EXCLUSIONS = {"no_child": "no child in the household", "out_of_area": "outside the phased area"}


@dataclass(frozen=True)
class CohortResult:
    """One evaluation: `cohort` (one row per family) and `evidence` (one row per event)."""

    programme: Programme
    as_of: pd.Timestamp
    cohort: pd.DataFrame
    evidence: pd.DataFrame


def _one_row_per_event(evidence: pd.DataFrame) -> pd.DataFrame:
    """An event meeting one criterion in several ways keeps one row, its details joined."""
    keys = ["family_id", "criterion", "agency", "record_key"]
    repeated = evidence.duplicated(keys, keep=False)
    merged = (
        evidence.loc[repeated]
        .groupby(keys, sort=False)
        .agg(person_id=("person_id", "first"), event_date=("event_date", "first"),
             detail=("detail", lambda d: "; ".join(dict.fromkeys(d))))
        .reset_index()
    )
    return pd.concat([evidence.loc[~repeated], merged], ignore_index=True)


def _criteria_evidence(programme: Programme, ev: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """Data-driven evidence; a criterion without conditions (a recorded need only) has none."""
    parts = [
        condition_hits(condition, ev, ctx).assign(criterion=code)
        for code, criterion in programme.criteria.items()
        for condition in criterion.any_of
    ]
    found = [part for part in parts if len(part)] or [
        pd.DataFrame(columns=[*EVIDENCE_COLUMNS, "criterion"])]
    return _one_row_per_event(pd.concat(found, ignore_index=True))


def _recorded_evidence(programme: Programme, recorded: pd.DataFrame | None, families: pd.Index,
                       ctx: Context) -> pd.DataFrame:
    """Needs recorded under one of the programme's criterion codes and open on D (identified on
    or before D, not closed before D: a need counts on its closing day), of known families."""
    if recorded is None or recorded.empty:
        return pd.DataFrame(columns=[*EVIDENCE_COLUMNS, "criterion"])
    missing = {"need_id", "family_id", "headline", "identified_on", "closed_on"} - set(recorded.columns)
    if missing:
        raise ValueError(f"recorded needs frame lacks column(s): {', '.join(sorted(missing))}")
    identified, closed = pd.to_datetime(recorded["identified_on"]), pd.to_datetime(recorded["closed_on"])
    open_on_d = (identified <= ctx.as_of) & (closed.isna() | (closed >= ctx.as_of))
    kept = recorded.loc[open_on_d & recorded["headline"].isin(list(programme.criteria))
                        & recorded["family_id"].isin(families)]
    evidence = kept.get("evidence", pd.Series("", index=kept.index)).fillna("").astype(str)
    by = kept.get("recorded_by", pd.Series(None, index=kept.index))
    return pd.DataFrame({
        "family_id": kept["family_id"],
        "person_id": None,
        "agency": "recorded",
        "record_key": kept["need_id"],
        "event_date": identified[kept.index],
        "detail": "recorded need" + pd.Series(np.where(by.notna(), " (by " + by.astype(str) + ")", ""),
                                              index=kept.index) + ": " + evidence,
        "criterion": kept["headline"],
    })


def _met(evidence: pd.DataFrame, families: pd.Index, codes: list[str]) -> pd.DataFrame:
    """Family x criterion booleans: True where the criterion has evidence."""
    met = np.zeros((len(families), len(codes)), dtype=bool)
    met[families.get_indexer(evidence["family_id"]),
        pd.Index(codes).get_indexer(evidence["criterion"])] = True
    return pd.DataFrame(met, index=families, columns=codes)


def _families_with(matches: list[Match], ev: pd.DataFrame, ctx: Context) -> np.ndarray:
    mask = pd.Series(False, index=ev.index)
    for match in matches:
        mask |= match_mask(match, ev, ctx)
    return ev.loc[mask, "family_id"].unique()


def _scope(
    programme: Programme, mem: pd.DataFrame, ev: pd.DataFrame, families: pd.Index, ctx: Context
) -> tuple[pd.Series, pd.Series]:
    """Which households are families (a child on D, or e.g. maternity), and which lie in
    the area phase in force at D (any member's postcode district listed)."""
    is_family = families.isin(mem.loc[mem["age"] < ctx.adult_age, "family_id"]) | families.isin(
        _families_with(programme.household.or_any_of, ev, ctx)
    )
    districts = programme.active_districts(ctx.as_of.date())
    in_area = (
        np.ones(len(families), dtype=bool) if districts is None
        else families.isin(mem.loc[mem["district"].isin(districts), "family_id"])
    )
    return pd.Series(is_family, index=families), pd.Series(in_area, index=families)


def _referral_evidence(
    programme: Programme, referrals: pd.DataFrame | None, ctx: Context
) -> pd.DataFrame:
    """Referrals by a listed service with a reason (within the window when dated)."""
    setting = programme.local_inclusion.referrals
    if setting is None or referrals is None:
        return pd.DataFrame(columns=[*EVIDENCE_COLUMNS, "criterion"])
    missing = {"family_id", "service", "reason"} - set(referrals.columns)
    if missing:
        raise ValueError(f"referrals frame lacks column(s): {', '.join(sorted(missing))}")
    reason = referrals["reason"].astype("string").str.strip()
    when = pd.to_datetime(referrals.get("referral_date", pd.Series(pd.NaT, index=referrals.index)))
    days = setting.within_days or ctx.window_days
    ok = referrals["service"].isin(setting.services) & reason.fillna("").ne("")
    if "referral_date" in referrals.columns:
        ok &= (when > ctx.as_of - pd.Timedelta(days=days)) & (when <= ctx.as_of)
    kept = referrals.loc[ok]
    return pd.DataFrame({
        "family_id": kept["family_id"],
        "person_id": None,
        "agency": "referral",
        "record_key": kept["service"],
        "event_date": when[ok],
        "detail": "referred by " + kept["service"].astype(str) + ": " + reason[ok].astype(str),
        "criterion": "referral",
    })


def _criteria_text(met: pd.DataFrame) -> pd.Series:
    """Comma-separated codes met, sorted (columns of `met` are already sorted)."""
    text = pd.Series("", index=met.index, dtype=object)
    for code in met.columns:
        text += np.where(met[code], code + ",", "")
    return text.str.rstrip(",")


def _priority(eligible: pd.Series, keys: pd.DataFrame) -> pd.Series:
    """Rank 1.. among eligible: more criteria, more focus criteria, higher cost, family_id."""
    order = keys.loc[eligible].sort_values(
        ["n_criteria", "n_focus", "cost", "family_id"], ascending=[False, False, False, True]
    )
    rank = pd.Series(np.arange(1, len(order) + 1), index=order.index)
    return rank.reindex(keys.index).astype("Int64")


def evaluate(
    programme: Programme | str,
    events: pd.DataFrame,
    members: pd.DataFrame,
    as_of: date | str | pd.Timestamp,
    referrals: pd.DataFrame | None = None,
    recorded: pd.DataFrame | None = None,
) -> CohortResult:
    """Evaluate `programme` over every family at `as_of` (see shared/spec/programme.md).

    `events`: staging.events columns plus person_id and family_id (missing optional columns
    are taken as empty); `members`: family_id, person_id, dob, postcode; `referrals`:
    family_id, service, reason, optional referral_date; `recorded`: recorded needs (need_id,
    family_id, headline, identified_on, closed_on, optional evidence and recorded_by), each
    meeting the criterion of its headline while open. Every family of members or events gets
    a cohort row; `exclusion` says why one cannot be eligible (`no_child`, `out_of_area`).
    Local inclusions (high cost, referral) respect the area phase; a referral, being a
    named service's judgement, does not need a child in the household.
    """
    if isinstance(programme, str):
        programme = load_programme(programme)
    as_of = pd.Timestamp(as_of).normalize().as_unit("ns")
    ctx = Context.of(programme, as_of)
    mem = prepare_members(members, as_of)
    ev = prepare_events(events, mem)
    families = pd.Index(pd.concat([mem["family_id"], ev["family_id"]]).unique())
    families = families.sort_values()

    evidence = _criteria_evidence(programme, ev, ctx)
    needs = _recorded_evidence(programme, recorded, families, ctx)
    if len(needs):
        evidence = pd.concat([evidence, needs], ignore_index=True) if len(evidence) else needs
    met = _met(evidence, families, sorted(programme.criteria))
    rule = programme.eligibility
    national = met[rule.national.of].sum(axis=1) >= rule.national.min
    local = rule.local_filter
    by_filter = (
        ~national
        & (met[local.of].sum(axis=1) >= local.min)
        & met[local.plus_any_of].any(axis=1)
        if local else pd.Series(False, index=families)
    )
    is_family, in_area = _scope(programme, mem, ev, families, ctx)
    cost = family_costs(programme, ev, ctx).reindex(families, fill_value=0.0).round(2)
    eligible = is_family & in_area & (national | by_filter)
    above = programme.local_inclusion.high_cost_above
    high_cost = is_family & in_area & ~eligible & (cost > above if above is not None else False)
    referral_evidence = _referral_evidence(programme, referrals, ctx)
    referred = in_area & ~eligible & ~high_cost & families.isin(referral_evidence["family_id"])

    n_criteria = met.sum(axis=1)
    keys = pd.DataFrame({
        "n_criteria": n_criteria,
        "n_focus": met[programme.focus_criteria].sum(axis=1),
        "cost": cost,
        "family_id": families,
    })
    cohort = pd.DataFrame({
        "family_id": families,
        "programme": programme.name,
        "as_of": as_of,
        "criteria": _criteria_text(met),
        "n_criteria": n_criteria.astype(int),
        "eligible": eligible,
        "basis": np.select(
            [eligible & national, eligible, high_cost, referred],
            ["national", "local_filter", "high_cost", "referral"], default=None,
        ),
        "priority_rank": _priority(eligible, keys),
        "estimated_annual_cost": cost,
        "exclusion": np.select([~is_family, ~in_area], list(_EXCLUSIONS), default=None),
    }).sort_values(["priority_rank", "family_id"], na_position="last", ignore_index=True)

    if len(referral_evidence):
        evidence = pd.concat([evidence, referral_evidence], ignore_index=True)
    evidence = (
        evidence.assign(programme=programme.name, as_of=as_of)
        .sort_values(["family_id", "criterion", "event_date", "agency", "record_key"],
                     ignore_index=True)[EVIDENCE_OUTPUT]
    )
    return CohortResult(programme, as_of, cohort[COHORT_COLUMNS], evidence)


def _labels(a: CohortResult, b: CohortResult) -> tuple[str, str]:
    if a.programme.name != b.programme.name:
        return a.programme.name, b.programme.name
    la, lb = (f"{r.programme.name}@{r.as_of:%Y-%m-%d}" for r in (a, b))
    return la, lb


def _why_not(row_criteria: pd.Series, exclusion: pd.Series, rule_text: str) -> pd.Series:
    reason = "criteria " + row_criteria.replace("", "none") + " do not meet " + rule_text
    return reason.where(exclusion.isna(), exclusion.map(_EXCLUSIONS))


def _renamed(a: Programme, b: Programme) -> dict[str, str]:
    """Criteria of `a` that `b` holds with the same conditions under another code."""
    return {
        code_a: code_b
        for code_a, crit_a in a.criteria.items() if code_a not in b.criteria and crit_a.any_of
        for code_b, crit_b in b.criteria.items()
        if code_b not in a.criteria and crit_b.any_of == crit_a.any_of
    }


def _describe(condition: Condition) -> str:
    """A condition as its non-default settings, in YAML flow style (evidence text left out)."""
    settings = condition.model_dump(exclude_defaults=True, exclude={"detail"})
    return yaml.safe_dump(settings, default_flow_style=True, sort_keys=False, width=10**6).strip()


def rule_differences(a: Programme, b: Programme) -> list[str]:
    """How two programmes' rules differ, in words: the eligibility rule, criteria that one
    has under another code, criteria of one only, and criteria whose conditions differ."""
    lines = []
    if a.rule_text != b.rule_text:
        lines.append(f"eligibility: {a.name} needs {a.rule_text}; {b.name} needs {b.rule_text}")
    renamed = _renamed(a, b)
    lines += [f"same conditions, other code: {a.name} {x} = {b.name} {y}"
              for x, y in renamed.items()]
    for one, other, skip in ((a, b, set(renamed)), (b, a, set(renamed.values()))):
        only = [f"{code} ({crit.title or code}{'' if crit.any_of else '; a recorded need only'})"
                for code, crit in one.criteria.items() if code not in other.criteria.keys() | skip]
        if only:
            lines.append(f"only {one.name}: " + ", ".join(only))
    for code in (c for c in a.criteria if c in b.criteria):
        conditions = [[_describe(c) for c in p.criteria[code].any_of] for p in (a, b)]
        for p, mine, theirs in ((a, *conditions), (b, *conditions[::-1])):
            lines += [f"{code}, {p.name} only: {text}" for text in mine if text not in theirs]
    if a.focus_criteria != b.focus_criteria:
        lines.append(f"focus criteria: {a.name} {', '.join(a.focus_criteria) or 'none'}; "
                     f"{b.name} {', '.join(b.focus_criteria) or 'none'}")
    return lines


def compare(a: CohortResult, b: CohortResult) -> pd.DataFrame:
    """Families admitted (any basis) by either evaluation, with each one's criteria and why.

    Columns are suffixed with the programme names (or name@date when both are the same
    programme); `only_<label>` lists criterion codes met under one and not the other (a
    criterion the other programme has under another code, same conditions, counts as met
    under both). The rules themselves are compared by :func:`rule_differences`.
    """
    la, lb = _labels(a, b)
    renamed = _renamed(a.programme, b.programme)
    back = {y: x for x, y in renamed.items()}
    columns = ["family_id", "basis", "criteria", "exclusion"]
    both = a.cohort[columns].merge(b.cohort[columns], on="family_id", how="outer",
                                   suffixes=("_a", "_b"))
    both = both.loc[both["basis_a"].notna() | both["basis_b"].notna()].reset_index(drop=True)
    in_a, in_b = both["basis_a"].notna(), both["basis_b"].notna()
    for side in ("a", "b"):
        both[f"criteria_{side}"] = both[f"criteria_{side}"].fillna("")
    codes_a = both["criteria_a"].str.split(",").map(lambda codes: {renamed.get(c, c) for c in codes})
    codes_b = both["criteria_b"].str.split(",").map(set)
    admitted_by = np.select([in_a & in_b, in_a], ["both", la], default=lb)
    why = pd.Series(
        np.select(
            [in_a & in_b, in_a],
            [f"both admit ({la} " + both["basis_a"] + f", {lb} " + both["basis_b"] + ")",
             f"{lb} does not admit: "
             + _why_not(both["criteria_b"], both["exclusion_b"], b.programme.rule_text)],
            default=f"{la} does not admit: "
            + _why_not(both["criteria_a"], both["exclusion_a"], a.programme.rule_text),
        ),
        index=both.index,
    )
    return pd.DataFrame({
        "family_id": both["family_id"],
        "admitted_by": admitted_by,
        f"basis_{la}": both["basis_a"],
        f"criteria_{la}": both["criteria_a"],
        f"basis_{lb}": both["basis_b"],
        f"criteria_{lb}": both["criteria_b"],
        f"only_{la}": [",".join(sorted({back.get(c, c) for c in x - y - {""}}))
                       for x, y in zip(codes_a, codes_b, strict=True)],
        f"only_{lb}": [",".join(sorted(y - x - {""})) for x, y in zip(codes_a, codes_b, strict=True)],
        "why": why,
    })
