"""The person-linkage facade: ``Matcher(settings).link_persons(mentions)``.

As Splink's ``Linker``, one object with namespaces split by job, each in its own module:
``.blocking`` (:mod:`matching.blocking`), ``.scoring`` (:mod:`matching.scoring`),
``.clustering`` (:mod:`matching.clustering`) and ``.diagnostics`` (:mod:`matching.explain`).

Mentions are first collapsed into *profiles*: mentions identical on every field the linkage
reads (an agency repeats a person's details on every event row) are one node. Profiles are
blocked, compared and scored; every record-level statistic is weighted by the number of
mentions a profile stands for.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matching import standardise as st
from matching.blocking import Blocker, add_blocking_keys
from matching.clustering import ClusterResult, Constraints
from matching.comparisons import Comparer, FieldTable
from matching.namespaces import (
    BlockingNamespace,
    ClusteringNamespace,
    Diagnostics,
    ScoringNamespace,
)
from matching.scoring import FellegiSunterModel, compare_runs
from matching.state import MENTION_FIELDS, MatchSettings, Profiles, Run, Scan

__all__ = ["MENTION_FIELDS", "MatchSettings", "Matcher", "PersonLinkResult", "Profiles"]

log = logging.getLogger(__name__)


@dataclass
class PersonLinkResult:
    """What the person stage hands on.

    Attributes:
        links: accepted links kept by clustering: ``mention_id_l``, ``mention_id_r`` (each the
            representative mention of its profile), ``match_weight``, ``match_probability``,
            ``identity_weight`` (person-specific evidence, see ``Thresholds``),
            ``blocking_pass``, and per comparison its level label and weight (``bf_<name>``).
        clusters: ``mention_id``, ``cluster`` (provisional key: smallest mention id in the
            cluster; the lineage module assigns stable person ids), ``profile`` (the
            representative mention used in ``links``), ``match_weight`` (strongest accepted
            link of the profile; null when the mention is alone or only identical records
            join it), and ``person_id`` for incremental runs.
        review: pairs in the uncertain band, same columns as ``links``; pairs the generation
            rule forbids (born a generation apart) are never in it.
        dropped: accepted links removed to satisfy cannot-link rules, same columns plus ``reason``.
        model: the trained model (with this run's statistics in ``model.run``).
        blocking: per pass: pairs added, blocks, largest block, split/dropped blocks, worst keys.
        warnings: run-gate warnings against the previous run.
        timings: seconds per stage.
    """

    links: pd.DataFrame
    clusters: pd.DataFrame
    review: pd.DataFrame
    dropped: pd.DataFrame
    model: FellegiSunterModel
    blocking: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


class Matcher:
    """Person linkage over the canonical mention frame (docs/data-model.md).

    Args:
        settings: declarations and tuning (:class:`MatchSettings`).
        model: a trained model to reuse (incremental runs); trained afresh when None.
        previous: the previous run's model, whose run statistics gate this run.

    Examples:
        >>> matcher = Matcher()                                  # doctest: +SKIP
        >>> result = matcher.link_persons(mentions)              # doctest: +SKIP
        >>> result.clusters.groupby("cluster").size().max()      # doctest: +SKIP
        >>> matcher.diagnostics.waterfall(mentions, "police|OC1|N1", "health|E9")  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: MatchSettings | None = None,
        model: FellegiSunterModel | None = None,
        previous: FellegiSunterModel | None = None,
    ) -> None:
        self.settings = settings or MatchSettings()
        self.model = model
        self.previous = previous
        if model is not None:
            model.check_compatible(self.settings.comparisons)
        self.blocking = BlockingNamespace(self)
        self.scoring = ScoringNamespace(self)
        self.clustering = ClusteringNamespace(self)
        self.diagnostics = Diagnostics(self)

    # -- preparation -----------------------------------------------------------------

    def profiles(
        self, mentions: pd.DataFrame, group: pd.Series | None = None, focus: pd.Series | None = None
    ) -> Profiles:
        """Derive comparison and blocking fields and collapse identical mentions.

        Args:
            mentions: the mention frame; missing optional columns are treated as empty.
            group: optional label per mention that profiles must not cross (person ids of
                an earlier run).
            focus: optional boolean per mention marking new records.
        """
        if "mention_id" not in mentions or mentions["mention_id"].duplicated().any():
            raise ValueError("mentions need a unique mention_id column")
        used = self._used_fields()
        columns = [c for c in mentions.columns if c in used or c in MENTION_FIELDS]
        frame = mentions[columns].reset_index(drop=True)
        for name in MENTION_FIELDS:
            if name not in frame:
                frame[name] = None
        frame["dob"] = st.real_dates(frame["dob"])
        frame["first_name"], frame["last_name"] = st.unswap_names(
            frame["first_name"], frame["last_name"]
        )
        keys = [pd.factorize(frame[c], use_na_sentinel=True)[0] for c in frame.columns]
        if group is not None:
            keys.append(pd.factorize(group, use_na_sentinel=True)[0])
        of_mention, first = _first_occurrence(_dense_key(keys))
        # derived fields are computed once per profile, not once per mention
        profile_frame = frame.iloc[first].reset_index(drop=True)
        parts = st.postcode_parts(profile_frame["postcode"])
        profile_frame["postcode_sector"] = parts["sector"]
        profile_frame["postcode_district"] = parts["district"]
        profile_frame["address_number"] = st.address_number(profile_frame["address"])
        profile_frame = add_blocking_keys(profile_frame)
        missing = used - set(profile_frame.columns)
        if missing:
            raise KeyError(f"mentions lack fields the settings use: {sorted(missing)}")
        if group is not None:
            profile_frame["_group"] = group.to_numpy()[first]
        multiplicity = np.bincount(of_mention, minlength=len(first))
        prof_focus = None
        if focus is not None:
            prof_focus = np.zeros(len(first), dtype=bool)
            prof_focus[of_mention[focus.to_numpy(dtype=bool)]] = True
        return Profiles(
            profile_frame,
            of_mention,
            multiplicity,
            mentions["mention_id"].to_numpy(object),
            prof_focus,
        )

    def _used_fields(self) -> set[str]:
        s = self.settings
        used = set().union(*(c.fields for c in s.comparisons), *(p.fields for p in s.passes))
        used |= set(s.identifiers) | set(s.scoped_identifiers) | set(s.scoped_identifiers.values())
        if s.twin_rule is not None:
            used |= {"last_name", "dob", "first_name"}
        return used

    def start_run(self, profiles: Profiles) -> Run:
        """The run state of ``profiles``: field table, comparer and blocker."""
        s = self.settings
        fields = sorted(set().union(*(c.fields for c in s.comparisons)) | {"last_name", "dob"})
        table = FieldTable(profiles.frame, fields)
        comparer = Comparer(table, s.comparisons)
        blocker = Blocker(profiles.frame, s.passes, s.max_block_size, s.batch_pairs, codes=table.codes)
        return Run(profiles, table, comparer, blocker)

    def constraints(self, run: Run) -> Constraints:
        s = self.settings
        twin = s.twin_rule.predicate(run.comparer) if s.twin_rule is not None else None
        generation = None if s.generation_gap is None else ("dob", s.generation_gap)
        return Constraints(
            run.profiles.frame,
            s.identifiers,
            s.scoped_identifiers,
            twin,
            generation=generation,
            codes=run.table.codes,
        )

    def forbidden_patterns(self, levels: np.ndarray) -> np.ndarray:
        """Level patterns the cannot-link rules reject: identifier conflicts and twins."""
        s = self.settings
        names = [c.name for c in s.comparisons]
        bad = np.zeros(len(levels), dtype=bool)
        for ident in (*s.identifiers, *s.scoped_identifiers):
            if ident in names:
                k = names.index(ident)
                bad |= levels[:, k] == len(s.comparisons[k].levels)  # the "else" level
        if s.twin_rule is not None:
            bad |= s.twin_rule.on_levels(levels, s.comparisons)
        return bad

    # -- entry points ----------------------------------------------------------------

    def link_persons(self, mentions: pd.DataFrame) -> PersonLinkResult:
        """Link a full mention frame into provisional person clusters.

        Args:
            mentions: ``staging.person_mentions`` rows (docs/data-model.md).

        Returns:
            :class:`PersonLinkResult`; ``self.model`` holds the trained model afterwards.
        """
        start = t0 = time.perf_counter()
        run = self.start_run(self.profiles(mentions))
        t = run.tick("prepare", t0)
        trained = self.model is None
        if trained:
            self.model = self.scoring.train(run)
            t = run.tick("train", t)
        scan = self.scoring.scan(run)
        t = run.tick("compare", t)
        if trained:
            self.scoring.fit_to_candidates(run, scan.patterns)
        result = self._finish(run, scan, groups=None)
        run.tick("cluster", t)
        result.timings = {**run.timings, "total": round(time.perf_counter() - start, 3)}
        return result

    def link_incremental(
        self, existing: pd.DataFrame, new: pd.DataFrame, person_column: str = "person_id"
    ) -> PersonLinkResult:
        """Link new mentions against existing persons and each other (never existing↔existing).

        Args:
            existing: mentions already linked, with ``person_column``.
            new: new mentions (no person id yet).
            person_column: the existing person id column.

        Returns:
            :class:`PersonLinkResult` whose ``clusters`` cover the new mentions and every
            existing mention of the persons they touch, with ``person_id`` (null for new
            mentions). A cluster holding two existing person ids is a merge for the lineage
            module to record. Uses ``self.model`` when given, else trains on the union.
        """
        start = t0 = time.perf_counter()
        both = pd.concat([existing, new], ignore_index=True)
        if person_column not in both:
            raise KeyError(f"existing mentions need a {person_column!r} column")
        is_new = pd.Series(np.arange(len(both)) >= len(existing))
        profiles = self.profiles(both, group=both[person_column].where(~is_new), focus=is_new)
        run = self.start_run(profiles)
        t = run.tick("prepare", t0)
        trained = self.model is None
        if trained:
            self.model = self.scoring.train(run)
            t = run.tick("train", t)
        scan = self.scoring.scan(run, focus=profiles.focus)
        t = run.tick("compare", t)
        if trained:
            self.scoring.fit_to_candidates(run, scan.patterns)
        groups = pd.factorize(profiles.frame["_group"], use_na_sentinel=True)[0]
        result = self._finish(run, scan, groups=groups)
        touched = result.clusters["cluster"].isin(
            result.clusters.loc[result.clusters["mention_id"].isin(new["mention_id"]), "cluster"]
        )
        clusters = result.clusters[touched].copy()
        clusters["person_id"] = clusters["mention_id"].map(
            existing[person_column].set_axis(existing["mention_id"])
        )
        result.clusters = clusters.reset_index(drop=True)
        run.tick("cluster", t)
        result.timings = {**run.timings, "total": round(time.perf_counter() - start, 3)}
        return result

    # -- shared tail -----------------------------------------------------------------

    def _finish(self, run: Run, scan: Scan, groups: np.ndarray | None) -> PersonLinkResult:
        model = self.model
        th = model.thresholds
        weight = model.match_weight(scan.levels)
        identity = model.identity_weight(scan.levels)
        accept = th.accepts(weight, identity)
        band = (weight >= th.review_weight) & (identity >= th.identity_review_min_weight) & ~accept
        constraints = self.constraints(run)
        # records born a generation apart never merge by the linkage's own rule, so no one is
        # asked about them: none of 152 such band pairs on 20 tuning seeds was one person
        # (a father and son of one name, mostly; 107 of seed 37's 241 band pairs)
        band[band] = ~constraints.conflict_kinds(scan.left[band], scan.right[band])[0]
        clustered = self.clustering.cluster(
            run, scan.left[accept], scan.right[accept], weight[accept], groups, constraints
        )
        pairs = self._pair_frame(run, scan, weight, identity)
        links_all = pairs[accept].reset_index(drop=True)
        dropped_idx = _dropped_rows(links_all, clustered)
        dropped = links_all.iloc[dropped_idx].assign(reason=clustered.dropped["reason"].to_numpy())
        links = links_all.drop(index=links_all.index[dropped_idx]).reset_index(drop=True)
        clusters = self._cluster_frame(run, clustered, scan, weight, accept, dropped_idx)
        model.run = self._run_stats(run, clustered, int(accept.sum()), int(band.sum()))
        warnings = compare_runs(model.run, self.previous.run) if self.previous is not None else []
        blocking = run.blocker.block_report().assign(pairs_added=pd.Series(scan.pairs_per_pass))
        return PersonLinkResult(
            links=links.drop(columns=["_l", "_r"]),
            clusters=clusters,
            review=pairs[band].drop(columns=["_l", "_r"]).reset_index(drop=True),
            dropped=dropped.drop(columns=["_l", "_r"]).reset_index(drop=True),
            model=model,
            blocking=blocking,
            warnings=warnings,
        )

    def _pair_frame(
        self, run: Run, scan: Scan, weight: np.ndarray, identity: np.ndarray
    ) -> pd.DataFrame:
        """Kept pairs with mention ids, weights and per-comparison levels and Bayes factors."""
        rep = run.profiles.representative
        table = self.model.weight_table()
        columns: dict[str, object] = {
            "_l": scan.left,
            "_r": scan.right,
            "mention_id_l": rep[scan.left],
            "mention_id_r": rep[scan.right],
            "match_weight": weight,
            "match_probability": FellegiSunterModel.probability(weight),
            "identity_weight": identity,
            "blocking_pass": pd.Categorical.from_codes(
                scan.pass_index, categories=[p.name for p in self.settings.passes]
            ),
        }
        for k, comp in enumerate(self.settings.comparisons):
            lv = scan.levels[:, k]
            columns[comp.name] = pd.Categorical.from_codes(lv, categories=list(comp.labels))
            columns[f"bf_{comp.name}"] = table[k, lv]
        return pd.DataFrame(columns)

    def _cluster_frame(
        self,
        run: Run,
        clustered: ClusterResult,
        scan: Scan,
        weight: np.ndarray,
        accept: np.ndarray,
        dropped_idx: np.ndarray,
    ) -> pd.DataFrame:
        prof = run.profiles
        kept = np.ones(int(accept.sum()), dtype=bool)
        kept[dropped_idx] = False
        best = np.full(len(prof.frame), -np.inf)
        np.maximum.at(best, scan.left[accept][kept], weight[accept][kept])
        np.maximum.at(best, scan.right[accept][kept], weight[accept][kept])
        label = clustered.labels[prof.of_mention]
        # provisional key: the smallest mention id of the cluster (ranked once, then ints). The
        # ids are unique and come in sorted runs (existing, then new): a stable sort merges the
        # runs, where factorizing with sort=True sorted them afresh (a tenth of a delta's clustering)
        order = np.argsort(prof.mention_ids, kind="stable")
        ordered = prof.mention_ids[order]
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        smallest = np.full(clustered.n_clusters, len(ordered), dtype=np.int64)
        np.minimum.at(smallest, label, rank)
        key = np.asarray(ordered, dtype=object)[smallest[label]]
        rep = prof.representative
        return pd.DataFrame(
            {
                "mention_id": prof.mention_ids,
                "cluster": key,
                "profile": rep[prof.of_mention],
                "match_weight": np.where(np.isfinite(best), best, np.nan)[prof.of_mention],
            }
        )

    @staticmethod
    def _run_stats(run: Run, clustered: ClusterResult, accepted: int, review: int) -> dict:
        sizes = np.bincount(clustered.labels[run.profiles.of_mention])  # mentions per cluster
        n = len(run.profiles.of_mention)
        return {
            "mentions": n,
            "profiles": len(run.profiles.frame),
            "accepted_links_per_profile": accepted / max(len(run.profiles.frame), 1),
            "review_pairs_per_profile": review / max(len(run.profiles.frame), 1),
            "mentions_per_cluster": n / max(len(sizes), 1),
            "share_unlinked": float((sizes == 1).sum() / max(n, 1)),
            "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        }


def _dense_key(columns: list[np.ndarray]) -> np.ndarray:
    """One dense int64 code per distinct row of several int code columns (-1 = missing)."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        key = pd.factorize(key * (int(col.max(initial=0)) + 2) + (col + 1))[0].astype(np.int64)
    return key


def _first_occurrence(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense group index per row (in order of first appearance) and each group's first row."""
    codes, uniques = pd.factorize(key)
    first = np.full(len(uniques), len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    return codes.astype(np.int64), first


def _dropped_rows(links: pd.DataFrame, clustered: ClusterResult) -> np.ndarray:
    """Row positions in ``links`` of the links clustering dropped."""
    if clustered.dropped.empty:
        return np.empty(0, dtype=np.int64)
    key = pd.MultiIndex.from_arrays([links["_l"], links["_r"]])
    drop = pd.MultiIndex.from_arrays(
        [clustered.dropped["left"].astype(np.int64), clustered.dropped["right"].astype(np.int64)]
    )
    return key.get_indexer(drop)
