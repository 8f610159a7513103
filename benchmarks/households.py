"""Household stage benchmark: family-level pairwise precision, recall and F1 on generated data.

The household stage is isolated from person linkage: every ingested mention
(``staging.person_mentions`` after the real ingest into an embedded DuckDB warehouse) is given
its TRUE person id from the generator's truth.csv, and :func:`matching.households.build_households`
groups those persons, with the mentions' events (``staging.events``). Pairs are counted over
mentions and over persons, against the true households. With ``--pipeline`` the real link
stage (:func:`pipeline.linkage.link.link`, person linkage included) is also run and measured over
mentions (its seconds include person linkage). ``--scale N`` times the stage on about N
mentions (the largest data set tiled with renamed persons, addresses and references, so
copies never join). ``--rule NAME=VALUE`` changes a :class:`matching.households.HouseholdRules`
field for the stage runs (not for ``--pipeline``), e.g. ``--rule contact_first_name=postcode``.

Run (from the repository root)::

    .venv/bin/python -m benchmarks.households --households 2000 20000 --pipeline --scale 1000000

Generated data and the warehouse are cached under ``--workdir`` (default
``$TMPDIR/familyhub-bench-households``), keyed by households and seed.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pandas as pd

from matching.explain import pairwise_scores
from matching.households import HouseholdRules, build_households
from pipeline.generator.errors import DEFAULT_ERRORS, ERROR_PRESETS
from pipeline.linkage.link import household_evidence

WORKDIR = Path(tempfile.gettempdir()) / "familyhub-bench-households"
KEY = ["agency", "record_key"]
EVENT_COLUMNS = ["mention_id", "event_type", "event_date", "start_date", "end_date"]


@dataclass(frozen=True)
class Dataset:
    """One generated area after ingest, with the truth of every mention."""

    root: Path
    as_of: date
    mentions: pd.DataFrame  # staging.person_mentions + true_person_id, true_household_id
    events: pd.DataFrame  # EVENT_COLUMNS of staging.events


def load(households: int, seed: int, workdir: Path, errors: str = DEFAULT_ERRORS) -> Dataset:
    """Generate and ingest once (cached as parquet), then attach the truth."""
    from pipeline.generator import generate
    from pipeline.ingest.load import ingest_landing
    from pipeline.warehouse.engine import Warehouse

    root = workdir / f"generated_{households}_{seed}_{errors}"
    cached = {name: root / f"{name}.parquet" for name in ("mentions", "events")}
    if not all(path.exists() for path in cached.values()):
        if not (root / "truth.csv").exists():
            generate(root, households=households, seed=seed, errors=errors)
        wh = Warehouse.connect(f"duckdb:///{root / 'warehouse.duckdb'}")
        wh.migrate()
        ingest_landing(wh, root / "landing", root / "quarantine")
        wh.read("select * from staging.person_mentions").to_parquet(cached["mentions"])
        wh.read(f"select {', '.join(EVENT_COLUMNS)} from staging.events").to_parquet(
            cached["events"]
        )
        wh.engine.dispose()
    truth = pd.read_csv(root / "truth.csv", dtype=str, keep_default_na=False)
    truth = truth.drop_duplicates(KEY, keep="last")[[*KEY, "true_person_id", "true_household_id"]]
    mentions = pd.read_parquet(cached["mentions"]).merge(truth, on=KEY, how="left", validate="1:1")
    for column in ("dob", "seen_date"):  # as pipeline.linkage.link.link reads them
        mentions[column] = pd.to_datetime(mentions[column])
    if mentions["true_person_id"].isna().any():
        raise ValueError("every ingested record must be in truth.csv")
    as_of = date.fromisoformat(json.loads((root / "manifest.json").read_text())["as_of"])
    return Dataset(root, as_of, mentions, pd.read_parquet(cached["events"]))


def with_true_persons(data: Dataset) -> pd.DataFrame:
    """The mention frame as the household stage sees it when person linkage is perfect."""
    return data.mentions.assign(person_id=data.mentions["true_person_id"])


def scores(mentions: pd.DataFrame, family_of_person: pd.Series) -> dict[str, float]:
    """Pairwise precision/recall/F1 of families over mentions and over true persons.

    ``family_of_person`` maps each mention's ``person_id`` to its family; over persons, a true
    person stands in the family holding most of its mentions (all of them, with true persons).
    """
    family = mentions["person_id"].map(family_of_person)
    over_mentions = pairwise_scores(family, mentions["true_household_id"])
    top = (
        pd.DataFrame({"person": mentions["true_person_id"], "family": family})
        .value_counts()
        .reset_index()
        .drop_duplicates("person")
    )
    household = mentions.drop_duplicates("true_person_id").set_index("true_person_id")
    over_persons = pairwise_scores(top["family"], top["person"].map(household["true_household_id"]))
    return {
        **{f"mention_{k}": over_mentions[k] for k in ("precision", "recall", "f1")},
        **{f"person_{k}": over_persons[k] for k in ("precision", "recall", "f1")},
    }


def run_stage(data: Dataset, rules: HouseholdRules) -> dict[str, float]:
    """The household stage alone, on true persons."""
    mentions = with_true_persons(data)
    start = time.perf_counter()
    result = build_households(
        mentions, data.as_of, rules, events=data.events, evidence=household_evidence()
    )
    seconds = time.perf_counter() - start
    family = result.members.set_index("person_id")["household_key"]
    found = scores(mentions, family)
    return {"persons": "true", **found, "seconds": round(seconds, 2)}


def run_pipeline(data: Dataset) -> dict[str, float]:
    """The real link stage (person linkage + households) on the cached warehouse."""
    from pipeline.linkage.link import link
    from pipeline.warehouse.engine import Warehouse

    wh = Warehouse.connect(f"duckdb:///{data.root / 'warehouse.duckdb'}")
    start = time.perf_counter()
    link(wh, data.as_of, full=True)
    seconds = time.perf_counter() - start
    linked = wh.read(
        "select m.mention_id, m.person_id, f.family_id from linked.mention_person m "
        "join linked.person_family f using (person_id)"
    )
    wh.engine.dispose()
    mentions = data.mentions.merge(linked[["mention_id", "person_id"]], on="mention_id")
    family = linked.drop_duplicates("person_id").set_index("person_id")["family_id"]
    found = scores(mentions, family)
    return {"persons": "linked", **found, "seconds": round(seconds, 2)}


def tiled(data: Dataset, target: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """About ``target`` mentions: copies of the data set whose ids and places never collide."""
    mentions = with_true_persons(data)
    copies = max(1, -(-target // len(mentions)))
    text = ["mention_id", "person_id", "address", "postcode", "uprn", "group_ref"]
    frames, event_frames = [], []
    for copy in range(copies):
        tag = f"~{copy}"
        frames.append(mentions.assign(**{c: mentions[c].astype(object) + tag for c in text}))
        event_frames.append(data.events.assign(mention_id=data.events["mention_id"] + tag))
    return pd.concat(frames, ignore_index=True), pd.concat(event_frames, ignore_index=True)


def run_scale(data: Dataset, target: int, rules: HouseholdRules) -> dict[str, float]:
    """Seconds of the household stage on about ``target`` mentions."""
    mentions, events = tiled(data, target)
    start = time.perf_counter()
    result = build_households(
        mentions, data.as_of, rules, events=events, evidence=household_evidence()
    )
    seconds = time.perf_counter() - start
    return {
        "mentions": len(mentions),
        "persons": int(mentions["person_id"].nunique()),
        "households": len(result.households),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--errors", choices=sorted(ERROR_PRESETS), default=DEFAULT_ERRORS,
                        help="errors of real records in the generated data (pipeline.generator.errors)")
    parser.add_argument("--pipeline", action="store_true", help="also run pipeline.linkage.link.link")
    parser.add_argument("--scale", type=int, default=0, help="time the stage on ~N mentions")
    parser.add_argument("--rule", action="append", default=[], help="HouseholdRules NAME=VALUE")
    args = parser.parse_args()
    rules = _rules(args.rule)
    rows, data = [], None
    for households in args.households:
        data = load(households, args.seed, args.workdir, args.errors)
        runs = [run_stage(data, rules)] + ([run_pipeline(data)] if args.pipeline else [])
        rows += [{"households": households, "mentions": len(data.mentions), **r} for r in runs]
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f"))
    if args.scale and data is not None:
        print("\nscale:", run_scale(data, args.scale, rules))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"\npeak resident memory of this process: {peak:.2f} GiB")


def _rules(settings: list[str]) -> HouseholdRules:
    """``NAME=VALUE`` settings as rules, each value converted to the default's type."""
    defaults = HouseholdRules()
    changes = dict(setting.split("=", 1) for setting in settings)
    for name, value in changes.items():
        kind = type(getattr(defaults, name))
        changes[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return replace(defaults, **changes)


if __name__ == "__main__":
    main()
