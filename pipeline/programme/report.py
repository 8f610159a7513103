"""The programme report: one self-contained HTML file with charts, viewable offline.

Charts are drawn with matplotlib (Agg backend, no display) and embedded as base64 PNG, so the
file needs no network, no JavaScript and no other file: it can be e-mailed or archived as is.
Everything is read from the reporting views (and the linkage tables for match weights).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from pipeline.ingest.status import feed_table
from pipeline.programme.savings import record_outcomes, report_defaults, totals
from pipeline.templating import render as render_template
from pipeline.warehouse.engine import Warehouse

__all__ = ["ReportData", "collect", "linked_elsewhere_table", "render", "write_report"]

_BLUE, _ORANGE, _GREY, _GREEN = "#1f5f99", "#d9822b", "#9aa5b1", "#2f8f5b"
_STATUS_COLOURS = {"accepted": _BLUE, "review": _ORANGE, "dropped": _GREY}


@dataclass(frozen=True)
class ReportData:
    programme: str
    as_of: date
    cohort: pd.DataFrame  # reporting.cohort rows of (programme, as_of)
    links: pd.DataFrame  # match_weight, status of linked.record_links
    person_weights: pd.Series  # linked.mention_person.match_weight (accepted links)
    claims: pd.DataFrame  # reporting.claim
    outcomes: pd.DataFrame  # reporting.family_outcome rows of (programme, as_of)
    alerts: pd.DataFrame  # kind, n
    feeds: pd.DataFrame | None = None  # per agency: schedule, last file, state, flagged deliveries
    agency_linkage: pd.DataFrame = field(default_factory=pd.DataFrame)  # reporting.agency_linkage


def collect(wh: Warehouse, programme: str | None = None, as_of: date | None = None) -> ReportData:
    """Read what the report shows; computes and stores the savings of attached families first."""
    name, day = report_defaults(wh, programme, as_of)
    record_outcomes(wh, name, day)
    params = {"p": name, "d": day}
    cohort = wh.read("select * from reporting.cohort where programme = :p and as_of = :d", params)
    if cohort.empty:
        raise ValueError(f"no cohort evaluated for {name} at {day}: run `familyhub cohort` first")
    return ReportData(
        programme=name, as_of=day, cohort=cohort,
        links=wh.read("select match_weight, status from linked.record_links"),
        person_weights=wh.read("select match_weight from linked.mention_person where match_weight is not null")[
            "match_weight"].astype(float),
        claims=wh.read("select * from reporting.claim order by programme, claim_window, payment"),
        outcomes=wh.read("select * from reporting.family_outcome where programme = :p and as_of = :d", params),
        alerts=wh.read("select kind, count(*) as n from reporting.alert group by kind order by kind"),
        feeds=feed_table(wh, day),
        agency_linkage=wh.read("select * from reporting.agency_linkage"),
    )


# -- charts -----------------------------------------------------------------------------------
def _figure(width: float = 6.4, height: float = 3.4) -> tuple[plt.Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    ax.spines[["top", "right"]].set_visible(False)
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return fig, ax


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _empty(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=_GREY)
    ax.set_xticks([])
    ax.set_yticks([])


def _criteria_charts(cohort: pd.DataFrame) -> tuple[str, str]:
    eligible = cohort[cohort["eligible"].astype(bool)]
    fig, ax = _figure(4.6)
    by_n = eligible.groupby("n_criteria").size()
    if by_n.empty:
        _empty(ax, "no eligible families")
    else:
        ax.bar(by_n.index.astype(str), by_n.to_numpy(), color=_BLUE)
        ax.set_xlabel("criteria met")
        ax.set_ylabel("eligible families")
    number = _png(fig)
    fig, ax = _figure(5.6)
    kinds = eligible["criteria"].dropna().str.split(",").explode().value_counts().sort_values()
    if kinds.empty:
        _empty(ax, "no eligible families")
    else:
        ax.barh(kinds.index, kinds.to_numpy(), color=_BLUE)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("eligible families meeting the criterion")
    return number, _png(fig)


def _cost_chart(cohort: pd.DataFrame) -> str:
    fig, ax = _figure()
    cost = cohort["estimated_annual_cost"].astype(float)
    in_cohort = cohort["basis"].notna()
    if not in_cohort.any():
        _empty(ax, "no families in the cohort")
    else:
        eligible = cohort["eligible"].astype(bool)
        groups = [(cost[in_cohort & e], colour, label)
                  for e, colour, label in ((eligible, _BLUE, "eligible"), (~eligible, _ORANGE, "local inclusion"))
                  if (in_cohort & e).any()]
        ax.hist([g[0] for g in groups], bins=20, stacked=True, color=[g[1] for g in groups],
                label=[g[2] for g in groups])
        ax.set_xlabel("estimated annual cost (£)")
        ax.set_ylabel("families")
        ax.legend(frameon=False)
    return _png(fig)


def _linkage_chart(links: pd.DataFrame, person_weights: pd.Series) -> str:
    fig, ax = _figure()
    if links.empty and person_weights.empty:
        _empty(ax, "no scored record pairs")
        return _png(fig)
    weights = links["match_weight"].astype(float)
    statuses = [s for s in _STATUS_COLOURS if (links["status"] == s).any()]
    ax.hist([weights[links["status"] == s] for s in statuses], bins=30, stacked=True,
            color=[_STATUS_COLOURS[s] for s in statuses], label=[f"pairs {s}" for s in statuses])
    if not person_weights.empty:
        ax.hist(person_weights, bins=30, histtype="step", color="black", linewidth=1.2,
                label="records' strongest accepted link")
    ax.set_xlabel("match weight (log2 Bayes factor)")
    ax.set_ylabel("count")
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def _claims_chart(claims: pd.DataFrame) -> str:
    fig, ax = _figure()
    if claims.empty:
        _empty(ax, "no claims recorded")
        return _png(fig)
    table = (claims.assign(amount=claims["amount"].astype(float),
                           window=claims["programme"] + " " + claims["claim_window"])
             .pivot_table(index="window", columns="payment", values="amount", aggfunc="sum", fill_value=0))
    bottom = pd.Series(0.0, index=table.index)
    for payment, colour in (("attachment", _BLUE), ("results", _GREEN)):
        if payment in table:
            ax.bar(table.index, table[payment], bottom=bottom, color=colour, label=payment)
            bottom += table[payment]
    ax.set_ylabel("claimed (£)")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return _png(fig)


def _savings_chart(outcomes: pd.DataFrame) -> str:
    fig, ax = _figure()
    if outcomes.empty:
        _empty(ax, "no attached families")
        return _png(fig)
    before, latest = outcomes["cost_before"].astype(float), outcomes["cost_latest"].astype(float)
    ax.scatter(before, latest, color=_BLUE, alpha=0.7)
    top = max(before.max(), latest.max(), 1.0) * 1.05
    ax.plot([0, top], [0, top], color=_GREY, linestyle="--", linewidth=1, label="no change")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("cost in the 12 months before attachment (£)")
    ax.set_ylabel("cost in the latest 12 months (£)")
    ax.legend(frameon=False)
    return _png(fig)


# -- page -------------------------------------------------------------------------------------
def linked_elsewhere_table(rows: pd.DataFrame) -> pd.DataFrame:
    """``reporting.agency_linkage`` as agency by age band (youngest first): the percentage of
    the agency's records linked to a person another agency knows, and how many records."""
    if rows.empty:
        return pd.DataFrame()
    ordered = rows.assign(age_from=rows["age_from"].astype(float)).sort_values("age_from", na_position="last")
    cells = ordered.assign(cell=(100 * ordered["share_linked_elsewhere"].astype(float)).map("{:.1f}%".format)
                           + " of " + ordered["n_records"].astype(int).map("{:,}".format))
    table = cells.pivot(index="agency", columns="age_band", values="cell")
    return table[list(dict.fromkeys(cells["age_band"]))].fillna("").reset_index()


def _money(value: float) -> str:
    return f"-£{-value:,.0f}" if value < 0 else f"£{value:,.0f}"


def _chart(png: str, alt: str) -> dict[str, str]:
    return {"png": png, "alt": alt}


def render(data: ReportData) -> str:
    """The report as one HTML document (``templates/report.html``: every value escaped, every
    chart inline)."""
    cohort = data.cohort
    eligible = cohort[cohort["eligible"].astype(bool)]
    by_number, by_kind = _criteria_charts(cohort)
    review = int((data.links["status"] == "review").sum()) if len(data.links) else 0
    claims = data.claims.assign(amount=data.claims["amount"].astype(float))
    claim_table = (claims.groupby(["programme", "claim_window", "payment"])
                   .agg(families=("family_id", "nunique"), amount=("amount", "sum")).reset_index()
                   if len(claims) else claims)
    if len(claim_table):
        claim_table["amount"] = claim_table["amount"].map(_money)
    saved = totals(data.outcomes)
    top = eligible.sort_values("priority_rank").head(10)[["priority_rank", "family_id", "criteria",
                                                           "estimated_annual_cost"]]
    top = top.assign(priority_rank=top["priority_rank"].astype(int),
                     estimated_annual_cost=top["estimated_annual_cost"].astype(float).map(_money))
    cost = eligible["estimated_annual_cost"].astype(float)
    local = int((cohort["basis"].notna() & ~cohort["eligible"].astype(bool)).sum())
    return render_template(
        "report.html", programme=data.programme, as_of=data.as_of,
        generated=datetime.now().strftime("%Y-%m-%d %H:%M"),
        cohort={"cards": [("families evaluated", f"{len(cohort):,}"), ("eligible", f"{len(eligible):,}"),
                          ("in the cohort by local inclusion", f"{local:,}")],
                "by_number": _chart(by_number, "eligible families by number of criteria"),
                "by_kind": _chart(by_kind, "eligible families by criterion"), "top": top},
        cost={"cards": [("total, eligible families", _money(float(cost.sum()))),
                        ("median, eligible families", _money(float(cost.median()) if len(eligible) else 0))],
              "chart": _chart(_cost_chart(cohort), "distribution of estimated annual cost")},
        linkage={"cards": [("record pairs scored", f"{len(data.links):,}"), ("clerical review queue", f"{review:,}"),
                           ("records linked by a match weight", f"{len(data.person_weights):,}")],
                 "chart": _chart(_linkage_chart(data.links, data.person_weights), "match-weight distribution"),
                 "elsewhere": linked_elsewhere_table(data.agency_linkage)},
        claims={"cards": [("claims", f"{len(claims):,}"), ("claimed", _money(float(claims["amount"].sum())))],
                "chart": _chart(_claims_chart(claims), "claims by window"), "table": claim_table},
        savings={"cards": [("attached families", f"{saved['families']:,}"),
                           ("cost, 12 months before attachment", _money(saved["cost_before"])),
                           ("cost, latest 12 months", _money(saved["cost_latest"])),
                           ("estimated saving", _money(saved["saving"]))],
                 "chart": _chart(_savings_chart(data.outcomes),
                                 "cost before attachment against the latest 12 months")},
        alerts=data.alerts,
        feeds=data.feeds if data.feeds is not None else pd.DataFrame(),
    )


def write_report(wh: Warehouse, out: Path, programme: str | None = None, as_of: date | None = None) -> Path:
    """Collect, render and write the report to `out` (UTF-8)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(collect(wh, programme, as_of)), encoding="utf-8")
    return out
