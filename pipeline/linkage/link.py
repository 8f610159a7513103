"""The link stage: standardised mentions → stable persons → stable families, in the warehouse.

Reads ``staging.person_mentions``, calls the pure ``matching`` library (person linkage,
households, lineage, review) and writes the ``linked`` layer in one transaction. The first
run links everything; later runs are incremental: only new mentions are compared, with
existing persons and with each other, using the saved model. Ids are carried forward by
largest overlap and every merge and split is recorded in ``linked.lineage_events``. Each run's
statistics are compared with the previous run of the same mode, and each delivery's match
rate with its agency's history (:mod:`pipeline.linkage.monitoring`).

Clerical review decisions (``linked.review_decisions``) bind every run, full or incremental,
after the matcher returns and before ids are carried forward (:func:`bind_decisions`):

* ``match`` joins the two records' provisional persons into one;
* ``non-match`` splits a provisional person holding both records: it is rebuilt from its
  accepted links, strongest first, never joining a group holding one record of a non-match
  pair to a group holding the other (the constrained rebuild of
  :func:`matching.clustering.cluster`). Identical records (one profile) and ``match`` pairs
  are joined before any scored link; mentions no link reaches stay with the first record.

The lineage events of persons a decision changed carry the reason
``review decision by NAME``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy.engine import Connection

from matching.clustering import cluster
from matching.households import HouseholdEvidence, build_households
from matching.lineage import carry_forward
from matching.matcher import MENTION_FIELDS, Matcher, PersonLinkResult
from matching.review import current_decisions, violations
from matching.scoring import FellegiSunterModel
from pipeline.ingest.agencies import Agency, load_agencies
from pipeline.linkage.monitoring import delivery_match_rates, drift, record_match_rates
from pipeline.warehouse.engine import Warehouse

__all__ = ["AfterLink", "Bound", "bind_decisions", "household_evidence", "link", "saved_model"]

log = logging.getLogger(__name__)
_BEST_FIELDS = ["first_name_raw", "last_name_raw", "dob", "sex", "address", "postcode"]
#: The mention columns a run reads: the matcher's, the household rules', the best values' and
#: the delivery monitoring's (not the loader's bookkeeping, read for nothing every month).
_MENTION_COLUMNS = ["mention_id", "agency", "file_id", "source_person_id", "first_name_raw", "last_name_raw",
                    "first_name", "middle_names", "last_name", "dob", "sex", "address", "postcode", "uprn",
                    "nhs_number", "upn", "nino", "seen_date", "group_kind", "group_ref", "contact_first_name",
                    "contact_last_name", "tenancy_current"]


def saved_model(wh: Warehouse, run_id: str | None = None) -> FellegiSunterModel | None:
    """The model a run used (``run_id``), else the latest run's; None before any run."""
    sql = "select model_json from linked.runs where model_json is not null"
    if run_id is not None:
        sql += " and run_id = :r"
    text = wh.scalar(sql + " order by started_at desc, run_id desc limit 1", {"r": run_id})
    return FellegiSunterModel.from_dict(json.loads(text)) if text else None


@dataclass(frozen=True)
class _Before:
    """The previous run's row of every mention: ``old`` (by mention id) and ``at``, each mention's
    position in it (-1: new). One lookup of the mention ids serves every step that compares a
    record with its previous run (each lookup of 85,000 ids took 10-20 ms)."""

    old: pd.DataFrame
    at: np.ndarray

    @classmethod
    def of(cls, mentions: pd.DataFrame, old: pd.DataFrame) -> _Before:
        return cls(old, old.index.get_indexer(mentions["mention_id"]))

    @property
    def new(self) -> np.ndarray:
        """Mentions no earlier run linked."""
        return self.at < 0

    def value(self, column: str, dtype: type = object) -> np.ndarray:
        """The previous run's ``column`` per mention (NaN for a new one)."""
        return np.append(self.old[column].to_numpy(dtype=dtype), np.nan)[self.at]

    def gone(self) -> np.ndarray:
        """Rows of ``old`` whose record is no longer loaded."""
        seen = np.zeros(len(self.old), dtype=bool)
        seen[self.at[self.at >= 0]] = True
        return ~seen


def _person_link(wh: Warehouse, mentions: pd.DataFrame, before: _Before, full: bool
                 ) -> tuple[pd.Series, PersonLinkResult | None, str, FellegiSunterModel | None]:
    """Provisional person label per mention, and how it was found."""
    model = None if full else saved_model(wh)
    previous = before.old["person_id"]
    fields = mentions[["mention_id", *MENTION_FIELDS]]  # all the matcher reads: its frames copy no more
    known = ~before.new
    new = fields[~known]
    if model is None or previous.empty:
        matcher = Matcher()
        result = matcher.link_persons(fields)
        current = result.clusters.set_index("mention_id")["cluster"]
        return current, result, "full", matcher.model
    if new.empty:
        return previous.copy(), None, "unchanged", model
    existing = fields[known].assign(person_id=before.value("person_id")[known])
    matcher = Matcher(model=model)  # drift is judged against the previous incremental run (monitoring)
    result = matcher.link_incremental(existing, new)
    touched = result.clusters.set_index("mention_id")["cluster"]
    current = pd.Series(before.value("person_id"), index=pd.Index(mentions["mention_id"]), name=previous.name)
    current = current.where(~current.index.isin(touched.index), "c:" + touched.reindex(current.index))
    return current, result, "incremental", matcher.model


@dataclass(frozen=True)
class Bound:
    """Provisional person labels once the review decisions hold.

    Attributes:
        labels: label per mention id.
        reasons: ``review decision by NAME`` per label a decision created.
        warnings: decisions that could not all hold (they contradict each other).
    """

    labels: pd.Series
    reasons: pd.Series
    warnings: list[str]


class _CannotLink:
    """Review ``non-match`` pairs of nodes ``0..n-1`` as cannot-link rules for
    :func:`matching.clustering.cluster` (the two methods of its ``Constraints``)."""

    def __init__(self, n: int, left: np.ndarray, right: np.ndarray) -> None:
        self._n, self._left, self._right = n, left, right
        self._pairs = pd.MultiIndex.from_arrays([np.r_[left, right], np.r_[right, left]])

    def conflicts(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return pd.MultiIndex.from_arrays([left, right]).isin(self._pairs)

    def candidate_pairs(self, members: np.ndarray, component: np.ndarray, distinct: bool = False
                        ) -> tuple[np.ndarray, np.ndarray]:
        of = np.full(self._n, -1)
        of[members] = component
        same = (of[self._left] >= 0) & (of[self._left] == of[self._right])
        return self._left[same], self._right[same]


def _deciders(decided_by: pd.Series, key: np.ndarray) -> pd.Series:
    """``review decision by A, B`` per key, naming everyone whose decision it applies."""
    names = decided_by.groupby(key).agg(lambda who: ", ".join(sorted(set(who))))
    return "review decision by " + names


def _join(labels: pd.Series, must: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Merge the provisional persons of every ``match`` pair (transitively)."""
    if must.empty:
        return labels, pd.Series(dtype=object)
    codes, uniques = pd.factorize(labels)
    position = pd.Series(codes, index=labels.index)
    a = position[must["mention_id_l"]].to_numpy()
    b = position[must["mention_id_r"]].to_numpy()
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(uniques), len(uniques)))
    _, component = connected_components(graph, directed=False)
    name = pd.Series(np.asarray(uniques, dtype=object)).groupby(component).transform("min").to_numpy()
    joined = np.bincount(component)[component[a]] > 1
    reasons = _deciders(must["decided_by"][joined], name[a][joined])
    return pd.Series(name[codes], index=labels.index), reasons


def _split(labels: pd.Series, cannot: pd.DataFrame, must: pd.DataFrame, mentions: pd.DataFrame,
           links: Callable[[np.ndarray], pd.DataFrame]) -> tuple[pd.Series, pd.Series]:
    """Rebuild every provisional person holding both records of a ``non-match`` pair."""
    left, right = labels[cannot["mention_id_l"]].to_numpy(), labels[cannot["mention_id_r"]].to_numpy()
    clash = cannot[left == right]
    if clash.empty:
        return labels, pd.Series(dtype=object)
    inside = labels.isin(labels[clash["mention_id_l"]])
    nodes = labels.index[inside].to_numpy(dtype=object)
    group = labels[inside].to_numpy(dtype=object)
    position = pd.Series(np.arange(len(nodes)), index=nodes)

    sub = mentions[mentions["mention_id"].isin(nodes)]
    profiles = Matcher().profiles(sub, group=pd.Series(labels[sub["mention_id"]].to_numpy()))
    first = pd.Series(profiles.mention_ids).groupby(profiles.of_mention).transform("first")
    scored = links(nodes)
    forced = must[must["mention_id_l"].isin(nodes) & must["mention_id_r"].isin(nodes)]
    anchor = pd.Series(clash["mention_id_l"].to_numpy(), index=labels[clash["mention_id_l"]].to_numpy())
    anchor = anchor[~anchor.index.duplicated()]
    edges = pd.concat([
        pd.DataFrame({"l": profiles.mention_ids, "r": first.to_numpy(), "w": np.inf}),
        forced.set_axis(["l", "r"], axis=1).assign(w=np.inf) if len(forced) else None,
        scored[["mention_id_l", "mention_id_r", "match_weight"]].set_axis(["l", "r", "w"], axis=1)
        if len(scored) else None,
        pd.DataFrame({"l": nodes, "r": anchor.reindex(group).to_numpy(), "w": -np.inf}),
    ], ignore_index=True)
    edges = edges[edges["l"].isin(position.index) & edges["r"].isin(position.index)]
    el, er = position[edges["l"]].to_numpy(), position[edges["r"]].to_numpy()
    keep = (group[el] == group[er]) & (el != er)
    constraints = _CannotLink(len(nodes), position[clash["mention_id_l"]].to_numpy(),
                              position[clash["mention_id_r"]].to_numpy())
    rebuilt = cluster(len(nodes), el[keep], er[keep], edges["w"].to_numpy(dtype=float)[keep],
                      constraints)  # type: ignore[arg-type]  # duck-typed Constraints
    piece = group + "~" + rebuilt.labels.astype(str).astype(object)
    who = _deciders(clash["decided_by"], labels[clash["mention_id_l"]].to_numpy())
    reasons = pd.Series(who.reindex(group).to_numpy(), index=piece)
    out = labels.copy()
    out[inside] = piece
    return out, reasons[~reasons.index.duplicated()]


def bind_decisions(labels: pd.Series, log: pd.DataFrame | None, mentions: pd.DataFrame,
                   links: Callable[[np.ndarray], pd.DataFrame]) -> Bound:
    """Make the standing review decisions hold in a run's provisional persons.

    Args:
        labels: provisional person label per mention id (index), as the matcher left them.
        log: ``linked.review_decisions`` rows (the latest answer per pair stands).
        mentions: the mention frame (identical records stay together in a split).
        links: mention ids -> accepted links among them (``mention_id_l``, ``mention_id_r``,
            ``match_weight``); asked only when a person must be split.

    Returns:
        :class:`Bound`. Decisions about records no longer loaded are ignored.
    """
    labels = labels.astype(object)
    standing = current_decisions(log)
    known = standing["mention_id_l"].isin(labels.index) & standing["mention_id_r"].isin(labels.index)
    standing = standing[known]
    must = standing.loc[standing["decision"] == "match", ["mention_id_l", "mention_id_r", "decided_by"]]
    cannot = standing.loc[standing["decision"] == "non-match", ["mention_id_l", "mention_id_r", "decided_by"]]
    labels, joined = _join(labels, must)
    labels, split = _split(labels, cannot, must[["mention_id_l", "mention_id_r"]], mentions, links)
    reasons = pd.concat([joined, split])
    broken = violations(labels.rename("cluster").rename_axis("mention_id").reset_index(), log)
    warnings = [f"review decisions contradict each other: {r.mention_id_l} and {r.mention_id_r} "
                f"({r.decision}) could not hold" for r in broken.itertuples()]
    return Bound(labels, reasons[~reasons.index.duplicated(keep="last")], warnings)


def _best_person_values(mentions: pd.DataFrame) -> pd.DataFrame:
    """Per person: the most trusted agency's (``trust:`` in its declaration; undeclared: last),
    most recent, non-empty value of each field."""
    rank = {name: agency.trust for name, agency in load_agencies().items() if agency.trust is not None}
    ordered = mentions.assign(_trust=mentions["agency"].map(rank).astype(float).fillna(np.inf)).sort_values(
        ["person_id", "_trust", "seen_date"], ascending=[True, True, False])
    best = ordered.groupby("person_id", sort=True)[_BEST_FIELDS].first()
    known = mentions.groupby(["person_id", "agency"]).size().unstack(fill_value=0) > 0
    text = np.full(len(known), "", dtype=object)
    for agency in sorted(known.columns):  # a handful of agencies: vectorised over persons
        text = np.where(known[agency].to_numpy(), text + agency + ",", text)
    agencies = pd.Series(text, index=known.index).str.removesuffix(",")
    return pd.DataFrame({
        "person_id": best.index,
        "first_name": best["first_name_raw"].to_numpy(),
        "last_name": best["last_name_raw"].to_numpy(),
        "date_of_birth": best["dob"].to_numpy(),
        "sex": best["sex"].to_numpy(),
        "address": best["address"].to_numpy(),
        "postcode": best["postcode"].to_numpy(),
        "agencies": agencies.reindex(best.index).to_numpy(),
        "n_mentions": mentions.groupby("person_id").size().reindex(best.index).to_numpy(),
    })


def _explanations(pairs: pd.DataFrame) -> pd.Series:
    """Per pair, the comparison levels and log2 Bayes factors as JSON (for the waterfall).

    A comparison's part of the JSON depends on its level and weight only, a handful of
    distinct values: each is encoded once and the parts joined as text (encoding a dict per
    pair cost a second on a month of a large area)."""
    names = [c[3:] for c in pairs.columns if c.startswith("bf_")]
    if not len(pairs):
        return pd.Series([], dtype=object)
    text = pd.Series("{", index=pairs.index, dtype=object)
    for i, name in enumerate(names):
        level = pairs[name].astype(str).to_numpy(dtype=object)
        weight = np.round(pairs[f"bf_{name}"].to_numpy(dtype=float), 3)
        # by the weight's bits: 0.0 and -0.0 are written differently
        key = np.c_[pd.factorize(level)[0], weight.view(np.int64)]
        _, first, codes = np.unique(key, axis=0, return_index=True, return_inverse=True)
        parts = np.array([json.dumps({name: [level[f], weight[f]]})[1:-1] for f in first], dtype=object)
        text += ("" if i == 0 else ", ") + parts[codes.reshape(-1)]
    return text + "}"


def _link_rows(result: PersonLinkResult, run_id: str) -> pd.DataFrame:
    parts = [(result.links, "accepted"), (result.review, "review"), (result.dropped, "dropped")]
    frames = [f.assign(status=s) for f, s in parts if len(f)]
    if not frames:
        return pd.DataFrame()
    pairs = pd.concat(frames, ignore_index=True)
    left = pairs[["mention_id_l", "mention_id_r"]].min(axis=1)
    right = pairs[["mention_id_l", "mention_id_r"]].max(axis=1)
    out = pd.DataFrame({
        "mention_id_l": left, "mention_id_r": right, "match_weight": pairs["match_weight"].astype(float),
        "match_probability": pairs["match_probability"].astype(float),
        "blocking_pass": pairs["blocking_pass"].astype(str), "status": pairs["status"],
        "explanation": _explanations(pairs), "run_id": run_id})
    return out.drop_duplicates(["mention_id_l", "mention_id_r"])


def _accepted_links(wh: Warehouse, nodes: np.ndarray, result: PersonLinkResult | None,
                    stored: bool) -> pd.DataFrame:
    """Accepted links among ``nodes``: this run's and, with ``stored``, those of earlier runs."""
    columns = ["mention_id_l", "mention_id_r", "match_weight"]
    frames = [result.links[columns]] if result is not None else []
    if stored:
        with wh.begin() as conn, wh.staged(conn, "_fh_nodes", pd.DataFrame({"mention_id": nodes})):
            frames.append(wh.read(
                "select k.mention_id_l, k.mention_id_r, k.match_weight from linked.record_links k "
                "join _fh_nodes a on a.mention_id = k.mention_id_l "
                "join _fh_nodes b on b.mention_id = k.mention_id_r where k.status = 'accepted'", conn=conn))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def household_evidence(agencies: Iterable[Agency] | None = None) -> HouseholdEvidence:
    """The household evidence the agency declarations name (their ``households`` keys), merged;
    the household rules know no agency's group kinds or event types themselves."""
    merged: dict[str, tuple[str, ...]] = {}
    for agency in load_agencies().values() if agencies is None else agencies:
        for key, values in agency.households.items():
            merged[key] = tuple(dict.fromkeys([*merged.get(key, ()), *values]))
    return HouseholdEvidence(**merged)


def _household_events(wh: Warehouse, evidence: HouseholdEvidence) -> pd.DataFrame:
    """The events the household rules use: span end dates and mothers' birth events (the
    others, half the table, would be read and dropped)."""
    births = {f"birth{i}": kind for i, kind in enumerate(evidence.birth_events)}
    used = " or ".join(["end_date is not null", *(f"event_type = :{name}" for name in births)])
    return wh.read(f"select mention_id, event_type, event_date, end_date from staging.events where {used}", births)


def _family_keys(mentions: pd.DataFrame, members: pd.DataFrame, old: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Household per mention now, and family per mention before (``old``: the previous run's
    ``family_id`` by mention id): families are carried forward on records, not person ids, so
    a family whose only person merged into another family's person is seen to merge into that
    family (its person id retired), not to vanish."""
    person = pd.Series(mentions["person_id"].to_numpy(), index=mentions["mention_id"], name="person_id")  # no frame copy
    now = person.map(members.set_index("person_id")["household_key"])
    previous = old["family_id"].dropna() if len(old) else pd.Series(dtype=object)
    return now.dropna(), previous


def _strongest_links(before: _Before, result: PersonLinkResult | None, mention_ids: pd.Series) -> np.ndarray:
    """Each record's strongest accepted link: the stronger of its earlier runs' and this run's.
    A delta scores only the pairs with a new record, so an earlier record whose person gains one
    has no link of this run, or a weaker one, while its earlier links still stand (taking this
    run's alone blanked or weakened thousands of records' evidence a month, and rewrote them)."""
    earlier = before.value("match_weight", float)
    if result is None:
        return earlier
    now = result.clusters.set_index("mention_id")["match_weight"].astype(float).reindex(mention_ids).to_numpy()
    return np.fmax(earlier, now)


def _issued(wh: Warehouse, kind: str, ids: np.ndarray) -> pd.Series:
    """Those of ``ids`` ever issued (``linked.lineage_events``) for ``kind``: a minted id must be
    none of them, and asking about the few minted costs less than reading the whole history,
    which grows every month."""
    return wh.read("select distinct new_id from linked.lineage_events where kind = :kind and new_id = any(:ids)",
                   {"kind": kind, "ids": ids.tolist()})["new_id"]


def _write_changed_records(wh: Warehouse, conn, frame: pd.DataFrame, before: _Before) -> None:
    """Rewrite only the ``linked.mention_person`` rows whose person or weight changed (or that
    are new or gone): a monthly delta moves a few records, not the whole table (``frame``: a
    row per mention, in order)."""
    weight, was = frame["match_weight"].to_numpy(dtype=float), before.value("match_weight", float)
    same = ((frame["person_id"].to_numpy() == before.value("person_id"))
            & ((weight == was) | (np.isnan(weight) & np.isnan(was))))
    moved = frame["mention_id"][~same & ~before.new]  # a new record has no row to delete
    stale = pd.concat([moved, pd.Series(before.old.index[before.gone()])], ignore_index=True)
    changed = frame[~same]
    if len(stale):
        with wh.staged(conn, "_fh_stale", pd.DataFrame({"mention_id": stale.astype(object)})):
            wh.execute(conn, "delete from linked.mention_person where mention_id in (select mention_id from _fh_stale)")
    wh.insert(conn, "linked.mention_person", changed)


def _touched_persons(frame: pd.DataFrame, before: _Before, reloaded: np.ndarray) -> pd.Index:
    """Persons, before and now, of every record that is new, gone, moved to another person or
    ``reloaded`` (a later version of it loaded since the last run): the only persons whose
    best values can have changed (``frame``: a row per mention, in order)."""
    was = before.value("person_id")
    moved = (frame["person_id"].to_numpy(dtype=object) != was) | reloaded  # a new record's NaN differs too
    gone = before.old["person_id"].to_numpy(dtype=object)[before.gone()]
    ids = np.r_[frame["person_id"].to_numpy(dtype=object)[moved], was[moved], gone]
    return pd.Index(ids[pd.notna(ids)]).unique()


def _loaded_since_last_run(wh: Warehouse) -> pd.Series:
    """Files loaded since the last link run started (all, before any): their records may be new
    versions of records that run saw, under the same mention ids."""
    return wh.read("select file_id from ops.files where loaded_at >= (select max(started_at) from linked.runs) "
                   "or not exists (select 1 from linked.runs)")["file_id"]


def _write_persons(wh: Warehouse, conn, mentions: pd.DataFrame, touched: pd.Index | None) -> None:
    """Best values of every person (``touched`` None: a full run), else of the touched persons
    only, rewriting those that changed: a person's best values depend on its records alone."""
    if touched is None:
        wh.execute(conn, "delete from linked.persons")
        wh.insert(conn, "linked.persons", _best_person_values(mentions))
        return
    wh.sync(conn, "linked.persons", _best_person_values(mentions[mentions["person_id"].isin(touched)]),
            key=["person_id"], within=pd.DataFrame({"person_id": touched}), unique=True)


class _Laps(dict):
    """Seconds per part of a run (read, persons, households, write), reported for benchmarks."""

    def __init__(self) -> None:
        super().__init__()
        self._since = time.perf_counter()

    def lap(self, part: str) -> None:
        now = time.perf_counter()
        self[part] = self.get(part, 0.0) + now - self._since
        self._since = now


#: Work that must commit with a link run or not at all (the runner's casework, which follows
#: the run's family lineage): called inside the run's transaction with the connection, the
#: run's lineage events and its id; what it returns is kept in the run's statistics.
AfterLink = Callable[[Connection, pd.DataFrame, str], dict]


def link(wh: Warehouse, as_of: date, full: bool = False, then: AfterLink | None = None) -> dict:
    """Link persons and families as of ``as_of``; returns a summary of the run.

    ``then`` runs in the run's own transaction, after its rows are written (this stage knows
    nothing of what follows it: the runner passes the programme's casework)."""
    started, laps = datetime.now(), _Laps()
    run_id = started.strftime("%Y%m%dT%H%M%S%f")
    # the previous run's person, weight and family of every record, read on its own connection
    # while the mentions are read: the server formats the rows of each in parallel
    with ThreadPoolExecutor(max_workers=1) as pool:
        old_rows = pool.submit(wh.read_bulk, "select m.mention_id, m.person_id, m.match_weight, f.family_id "
                               "from linked.mention_person m left join linked.person_family f on f.person_id = m.person_id")
        mentions = wh.read_bulk(f"select {', '.join(_MENTION_COLUMNS)} from staging.person_mentions order by mention_id")
        old = old_rows.result().set_index("mention_id")
    if mentions.empty:
        raise ValueError("no person mentions in the warehouse: run `familyhub ingest` first")
    for col in ("dob", "seen_date"):
        mentions[col] = pd.to_datetime(mentions[col])
    previous = old["person_id"] if len(old) else pd.Series(dtype=object)
    before = _Before.of(mentions, old)
    laps.lap("read")
    current, result, mode, model = _person_link(wh, mentions, before, full)
    decisions = wh.read("select * from linked.review_decisions")
    bound = bind_decisions(current, decisions, mentions,
                           lambda nodes: _accepted_links(wh, nodes, result, stored=mode != "full"))
    # a minted P... id is none ever issued (and cannot clash with a family's F... one)
    persons = carry_forward(bound.labels, previous, prefix="P", run_id=run_id,
                            reserved=lambda ids: _issued(wh, "person", ids), reasons=bound.reasons)
    mentions["person_id"] = mentions["mention_id"].map(persons.ids)

    mention_person = pd.DataFrame({"mention_id": mentions["mention_id"], "person_id": mentions["person_id"],
                                   "match_weight": _strongest_links(before, result, mentions["mention_id"]),
                                   "run_id": run_id})

    laps.lap("persons")
    evidence = household_evidence()
    households = build_households(mentions, as_of, events=_household_events(wh, evidence), evidence=evidence)
    families = carry_forward(*_family_keys(mentions, households.members, old), prefix="F", run_id=run_id,
                             reserved=lambda ids: _issued(wh, "family", ids))
    members = households.members.assign(family_id=lambda f: f["household_key"].map(families.clusters))
    fam_table = households.households.assign(family_id=lambda f: f["household_key"].map(families.clusters))
    edges = households.edges.assign(family_id=lambda f: f["household_key"].map(families.clusters))
    lineage = pd.concat([persons.events.assign(kind="person"), families.events.assign(kind="family")],
                        ignore_index=True)

    laps.lap("households")
    new = pd.Series(before.new, index=mentions.index)
    stats = {"blocking": result.blocking.to_dict("records") if result is not None else [],
             "timings": result.timings if result is not None else {},
             "household_guard": households.guard.to_dict("records"),
             "review": {"decisions": len(decisions), "persons_changed": len(bound.reasons)},
             "run": model.run if result is not None and model is not None else {}}
    stats["drift"] = drift(wh, mode, stats["run"], int(new.sum()))
    warnings = (result.warnings if result is not None else []) + bound.warnings + stats["drift"]
    touched = None if mode == "full" else _touched_persons(
        mention_person, before, mentions["file_id"].isin(_loaded_since_last_run(wh)).to_numpy())
    links = _link_rows(result, run_id) if result is not None else pd.DataFrame()
    rates = delivery_match_rates(mentions[["mention_id", "agency", "file_id", "person_id"]], new, result)
    with wh.begin() as conn:
        _write_changed_records(wh, conn, mention_person, before)
        _write_persons(wh, conn, mentions, touched)
        wh.sync(conn, "linked.person_family",
                members[["person_id", "family_id", "address", "postcode", "located_on"]], key=["person_id"],
                unique=True)
        wh.sync(conn, "linked.families", fam_table[["family_id", "address", "postcode", "uprn", "n_members"]],
                key=["family_id"], unique=True)
        wh.sync(conn, "linked.household_edges",
                edges[["person_a", "person_b", "reason", "evidence", "family_id"]], key=["person_a", "person_b"])
        if mode == "full":
            wh.execute(conn, "delete from linked.record_links")
        if len(links):
            if mode != "full":
                with wh.staged(conn, "_fh_links", links[["mention_id_l", "mention_id_r"]]):
                    wh.execute(conn, "delete from linked.record_links where exists (select 1 from _fh_links n "
                                     "where n.mention_id_l = linked.record_links.mention_id_l "
                                     "and n.mention_id_r = linked.record_links.mention_id_r)")
            wh.insert(conn, "linked.record_links", links)
        wh.insert(conn, "linked.lineage_events",
                  lineage[["run_id", "kind", "event", "old_id", "new_id", "n_keys", "reason"]])
        flags = record_match_rates(wh, conn, rates, run_id)
        warnings += flags
        if then is not None:
            stats["cases"] = then(conn, lineage, run_id)
        summary = {
            "run_id": run_id, "as_of": as_of, "mode": mode, "started_at": started, "finished_at": datetime.now(),
            "n_mentions": len(mentions),
            "n_new_mentions": int(new.sum()),
            "n_persons": int(mentions["person_id"].nunique()),
            "n_families": int(fam_table["family_id"].nunique()),
            "n_review": int((links["status"] == "review").sum()) if len(links) else 0,
            "model_json": json.dumps(model.to_dict()) if model is not None else None,
            "stats_json": json.dumps(stats, default=str), "warnings": "\n".join(warnings) or None,
        }
        wh.insert(conn, "linked.runs", pd.DataFrame([summary]))
    laps.lap("write")
    merges = lineage[lineage["event"].isin(["merged", "split"])]
    log.info("link %s (%s): %d persons, %d families, %d merges/splits", run_id, mode,
             summary["n_persons"], summary["n_families"], len(merges))
    return {k: v for k, v in summary.items() if k not in {"model_json", "stats_json"}} | {
        "merges_and_splits": len(merges), "timings": stats["timings"], "drift": stats["drift"],
        "match_rate_flags": flags, "seconds": dict(laps)}
