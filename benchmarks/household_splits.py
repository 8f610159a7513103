"""Why true households are split: each one, who was separated, and what evidence existed.

Runs the household stage on true persons (as ``benchmarks.households`` does) and, for every
true household holding a child that ended up in more than one family, prints each member:
role, agencies, surnames recorded, where placed, postcode history, groups and named
contacts, with the separated ones marked. A closing count sorts the separated members by
the evidence that could have joined them:

* ``contact first name``: a pupil of the family names them by first name (a changed
  surname: a mother known to health or DWP by her maiden name);
* ``surname, same postcode``: a family surname at the postcode they are placed at;
* ``surname, earlier postcode``: a family surname at a postcode both were recorded at;
* ``other surname, shared postcode``: only a postcode in common (a partner with another
  surname, known by postcode alone and named by no one);
* ``no postcode``, ``nothing shared``.

Run (from the repository root)::

    .venv/bin/python -m benchmarks.household_splits --households 2000 --seed 1 [--list]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import pandas as pd

from benchmarks.households import WORKDIR, Dataset, load, with_true_persons
from matching.households import HouseholdRules, build_households
from pipeline.linkage.link import household_evidence


def families(data: Dataset, rules: HouseholdRules) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The mentions with their family (``fam``), and each person's placement."""
    mentions = with_true_persons(data)
    result = build_households(
        mentions, data.as_of, rules, events=data.events, evidence=household_evidence()
    )
    placed = result.members.set_index("person_id")
    return mentions.assign(fam=mentions["person_id"].map(placed["household_key"])), placed


def category(person: pd.DataFrame, main: pd.DataFrame, placed_at: object, main_now: set) -> str:
    """The strongest evidence that could have joined a separated person to the main family."""
    postcodes, main_postcodes = set(person["postcode"].dropna()), set(main["postcode"].dropna())
    same_surname = bool(set(person["last_name"].dropna()) & set(main["last_name"].dropna()))
    if set(person["first_name"].dropna()) & set(main["contact_first_name"].dropna()):
        return "contact first name"
    if same_surname and placed_at in main_now:
        return "surname, same postcode"
    if same_surname and postcodes & main_postcodes:
        return "surname, earlier postcode"
    if postcodes & main_postcodes:
        return "other surname, shared postcode"
    return "no postcode" if not postcodes else "nothing shared"


def describe(person: pd.DataFrame, role: str, placed: pd.Series, tag: str) -> str:
    def joined(values: pd.Series) -> str:
        return ",".join(sorted(set(values.dropna().astype(str)) - {""}))

    contacts = (
        person["contact_first_name"].fillna("") + " " + person["contact_last_name"].fillna("")
    )
    history = "; ".join(
        f"{a}:{p}@{str(s)[:10]}"
        for a, p, s in person[["agency", "postcode", "seen_date"]].drop_duplicates().to_numpy()
    )
    return (
        f"  {tag:5} {person['person_id'].iloc[0]} {role} | {joined(person['agency'])} | "
        f"names {joined(person['first_name'])} {joined(person['last_name'])} | "
        f"placed {placed['postcode']} {placed['address_key']} | groups {joined(person['group_ref'])}"
        f" | contacts {joined(contacts.str.strip())}\n        postcodes {history}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--list", action="store_true", help="print every split household")
    args = parser.parse_args()
    data = load(args.households, args.seed, args.workdir)
    mentions, placed = families(data, HouseholdRules())
    roles = pd.read_csv(data.root / "truth_persons.csv", dtype=str, keep_default_na=False)
    role = roles.set_index("true_person_id")["role"]
    persons = mentions.drop_duplicates("person_id")
    with_child = persons["person_id"].map(role).eq("child").groupby(persons["true_household_id"])
    n_families = persons.groupby("true_household_id")["fam"].nunique()
    split = n_families[(n_families > 1) & with_child.any()].index
    counts: Counter[tuple[str, str]] = Counter()
    for household in split:
        members = mentions[mentions["true_household_id"] == household]
        main_fam = members.drop_duplicates("person_id")["fam"].value_counts().idxmax()
        main = members[members["fam"] == main_fam]
        main_now = set(placed.loc[main["person_id"].unique(), "postcode"].dropna())
        lines = [f"== {household}"]
        for person_id, person in members.groupby("person_id"):
            separated = person["fam"].iloc[0] != main_fam
            if separated:
                kind = category(person, main, placed.at[person_id, "postcode"], main_now)
                counts[(kind, role[person_id])] += 1
            tag = "SPLIT" if separated else "main"
            lines.append(describe(person, role[person_id], placed.loc[person_id], tag))
        if args.list:
            print("\n".join(lines))
    print(f"\n{len(split)} true households with a child split (seed {args.seed}); separated:")
    for (kind, who), n in sorted(counts.items(), key=lambda item: -item[1]):
        print(f"{n:5}  {kind}: {who}")


if __name__ == "__main__":
    main()
