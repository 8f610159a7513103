"""Clustering under cannot-link rules, and the Matcher end to end on small synthetic frames."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from matching.clustering import Constraints, _row_codes, cluster
from matching.matcher import Matcher, MatchSettings

FIRST = ["OLIVIA", "AMELIA", "ISLA", "AVA", "MIA", "GRACE", "LILY", "FREYA", "EMILY", "IVY",
         "OLIVER", "GEORGE", "NOAH", "ARTHUR", "LEO", "OSCAR", "HARRY", "JACK", "CHARLIE", "JAMES"]  # fmt: skip
LAST = ["SMITH", "JONES", "TAYLOR", "BROWN", "WILLIAMS", "WILSON", "JOHNSON", "DAVIES", "PATEL",
        "WRIGHT", "WALKER", "ROBINSON", "THOMPSON", "WHITE", "HUGHES", "EDWARDS", "GREEN", "HALL"]  # fmt: skip
SMALL = MatchSettings(u_pairs=20_000, m_pairs=5_000)


def population(n: int = 150, seed: int = 3) -> pd.DataFrame:
    """People seen by health (NHS number) and police (nominal id), details repeated verbatim."""
    rng = np.random.default_rng(seed)
    people = pd.DataFrame(
        {
            "person": [f"p{i}" for i in range(n)],
            "first_name": rng.choice(FIRST, n),
            "last_name": rng.choice(LAST, n),
            "dob": pd.Timestamp("1960-01-01") + pd.to_timedelta(rng.integers(0, 20000, n), "D"),
            "sex": rng.choice(["M", "F"], n),
            "postcode": [
                f"NE{rng.integers(1, 30)} {rng.integers(1, 9)}A{'BDEFG'[i % 5]}" for i in range(n)
            ],
            "nhs": [f"{9000000000 + i}" for i in range(n)],
        }
    )
    rows = []
    for agency, times in (("health", 2), ("police", 1)):
        for t in range(times):
            part = people.assign(
                agency=agency,
                mention_id=[f"{agency}|{p}|{t}" for p in people["person"]],
                nhs_number=people["nhs"] if agency == "health" else None,
                source_person_id=[f"police:N{p}" for p in people["person"]]
                if agency == "police"
                else None,
            )
            rows.append(part)
    return pd.concat(rows, ignore_index=True).drop(columns=["nhs"])


def mention(mention_id: str, agency: str, first: str, last: str, dob: str, **extra: object) -> dict:
    row = {"mention_id": mention_id, "agency": agency, "first_name": first, "last_name": last,
           "dob": pd.Timestamp(dob), "sex": extra.pop("sex", "M"), "postcode": extra.pop("postcode", "NE15 6AF"),
           "person": extra.pop("person", mention_id)}  # fmt: skip
    return {**row, **extra}


def link(extra_rows: list[dict], settings: MatchSettings = SMALL) -> pd.DataFrame:
    frame = pd.concat([population(), pd.DataFrame(extra_rows)], ignore_index=True)
    result = Matcher(settings).link_persons(frame)
    return result.clusters.set_index("mention_id")["cluster"]


def test_plain_components_without_constraints() -> None:
    result = cluster(5, np.array([0, 1, 3]), np.array([1, 2, 4]), np.array([9.0, 8.0, 7.0]))
    assert result.labels[0] == result.labels[1] == result.labels[2]
    assert result.labels[3] == result.labels[4] != result.labels[0]
    assert result.dropped.empty


def test_conflicting_identifiers_never_merge_even_through_a_bridge() -> None:
    frame = pd.DataFrame({"nhs_number": ["111", None, "222", "222"]})
    constraints = Constraints(frame, identifiers=["nhs_number"])
    # 0 -- 1 -- 2 -- 3: the bridge 1 joins two different NHS numbers; 1-2 is the weakest link
    result = cluster(
        4, np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([20.0, 12.0, 30.0]), constraints
    )
    assert result.labels[0] == result.labels[1]
    assert result.labels[2] == result.labels[3]
    assert result.labels[0] != result.labels[2]
    assert result.dropped[["left", "right"]].values.tolist() == [[1, 2]]


def test_agency_ids_conflict_only_within_one_agency() -> None:
    frame = pd.DataFrame(
        {
            "source_person_id": ["police:1", "police:2", "yot:9"],
            "agency": ["police", "police", "yot"],
        }
    )
    constraints = Constraints(frame, scoped={"source_person_id": "agency"})
    result = cluster(3, np.array([0, 1]), np.array([2, 2]), np.array([10.0, 5.0]), constraints)
    assert result.labels[0] == result.labels[2] != result.labels[1]


def test_existing_groups_are_never_split() -> None:
    frame = pd.DataFrame({"nhs_number": ["1", None, "2"]})
    groups = np.array([0, 0, -1])
    result = cluster(
        3,
        np.array([1]),
        np.array([2]),
        np.array([50.0]),
        Constraints(frame, ["nhs_number"]),
        groups,
    )
    assert result.labels[0] == result.labels[1] != result.labels[2]


def test_twins_stay_apart_but_the_same_child_links_across_agencies() -> None:
    twins = [
        mention("health|tom", "health", "TOM", "PARKER", "2015-06-01", nhs_number="9990000001"),
        mention("schools|tom", "schools", "TOM", "PARKER", "2015-06-01", upn="A123"),
        mention("health|jack", "health", "JACK", "PARKER", "2015-06-01", nhs_number="9990000002"),
        mention("schools|jack", "schools", "JACK", "PARKER", "2015-06-01", upn="A124"),
        mention(
            "police|jack", "police", "JACK", "PARKER", "2015-06-01", source_person_id="police:N77"
        ),
    ]
    clusters = link(twins)
    assert clusters["health|tom"] == clusters["schools|tom"]
    assert clusters["health|jack"] == clusters["schools|jack"] == clusters["police|jack"]
    assert clusters["health|tom"] != clusters["health|jack"]


def test_nickname_and_day_month_swap_link() -> None:
    rows = [
        mention("health|w", "health", "WILLIAM", "OKAFOR", "1980-03-04", nhs_number="9990000003"),
        mention("police|w", "police", "BILL", "OKAFOR", "1980-03-04", source_person_id="police:N1"),
        mention("dwp|w", "dwp", "WILLIAM", "OKAFOR", "1980-04-03", nino="AB123456C"),
    ]
    clusters = link(rows)
    assert clusters["health|w"] == clusters["police|w"] == clusters["dwp|w"]


def test_different_nhs_numbers_are_evidence_not_a_wall() -> None:
    rows = [  # a mistyped number that still passes modulus 11: everything else agrees exactly
        mention("health|a", "health", "ZARA", "QUINN", "1990-01-02", nhs_number="9990000004"),
        mention("health|b", "health", "ZARA", "QUINN", "1990-01-02", nhs_number="9990000005"),
        mention("police|ab", "police", "ZARA", "QUINN", "1990-01-02", source_person_id="police:N5"),
        # different numbers and a date one field off: the conflict still keeps them apart
        mention("health|c", "health", "ZARA", "QUINN", "1990-01-09", nhs_number="9990000006"),
    ]
    clusters = link(rows)
    assert clusters["health|a"] == clusters["health|b"] == clusters["police|ab"]
    assert clusters["health|c"] != clusters["health|a"]


def test_duplicate_police_nominal_links_when_identity_agrees() -> None:
    rows = [
        mention("police|1", "police", "ETHAN", "ONEAL", "1999-07-03", source_person_id="police:N1"),
        mention("police|2", "police", "ETHAN", "ONEAL", "1999-07-03", source_person_id="police:N4"),
        mention("police|3", "police", "ETHAN", "ONEAL", "1999-07-04", source_person_id="police:N8"),
    ]
    clusters = link(rows)
    assert clusters["police|1"] == clusters["police|2"]
    assert clusters["police|3"] != clusters["police|1"]  # two nominals and a date off: apart


def test_a_shared_identifier_never_merges_two_generations() -> None:
    rows = [  # a baby's record carrying the mother's NHS number; a son on his father's nominal
        mention("health|mum", "health", "SOPHIE", "TURNER", "1995-10-10", nhs_number="9990000007", sex="F"),
        mention("health|baby", "health", "JESSICA", "TURNER", "2024-04-15", nhs_number="9990000007", sex="F"),
        mention("police|dad", "police", "MARTIN", "BARTHORPE", "1983-12-09", source_person_id="police:N9"),
        mention("police|son", "police", "MARTIN", "BARTHORPE", "2007-05-31", source_person_id="police:N9"),
        mention("health|son", "health", "MARTIN", "BARTHORPE", "2007-05-31", nhs_number="9990000008"),
    ]
    clusters = link(rows)
    assert clusters["health|mum"] != clusters["health|baby"]
    assert clusters["police|dad"] != clusters["police|son"]
    assert clusters["police|son"] == clusters["health|son"]


def test_records_born_a_generation_apart_are_never_queued_for_review() -> None:
    at_home = {"postcode": "DH1 0DS", "address": "77 NEWTON ROAD"}
    rows = [  # a son named after his father, and his father's record with the year mistyped
        mention("police|dad", "police", "MARTIN", "BARTHORPE", "1983-12-09", source_person_id="police:N9", **at_home),
        mention("schools|son", "schools", "MARTIN", "BARTHORPE", "2007-05-31", upn="B1", **at_home),
        mention("housing|dad", "housing", "MARTIN", "BARTHORPE", "1993-12-09", **at_home),
    ]
    frame = pd.concat([population(), pd.DataFrame(rows)], ignore_index=True)
    trainer = Matcher(SMALL)
    trainer.link_persons(frame)
    model = trainer.model
    model.thresholds = replace(model.thresholds, accept=0.999999, review=0.001, identity_review_min_weight=-np.inf)
    matcher = Matcher(SMALL, model=model)
    review = matcher.link_persons(frame).review
    queued = set(zip(review["mention_id_l"], review["mention_id_r"], strict=True))
    queued |= {(b, a) for a, b in queued}
    weight = matcher.diagnostics.waterfall(frame, "police|dad", "schools|son")["weight"].iloc[-1]
    assert weight >= model.thresholds.review_weight  # the band would hold the pair by its weight ...
    assert ("police|dad", "schools|son") not in queued and ("housing|dad", "schools|son") not in queued
    assert ("police|dad", "housing|dad") in queued  # ... a typo in the year stays a question


def test_placeholder_dates_of_birth_link_but_never_agree() -> None:
    rows = [
        mention("health|x", "health", "POPPY", "PARKIN", "1998-11-11", nhs_number="9990000009", sex="F"),
        mention("schools|x", "schools", "POPPY", "PARKIN", "1900-01-01", upn="A9", sex="F"),
        mention("housing|x", "housing", "POPPY", "PARKIN", "1998-01-01", source_person_id="housing:H1", sex="F"),
        mention("police|y", "police", "ROWAN", "ELDER", "1900-01-01", source_person_id="police:N2", postcode="DH1 1AA"),
        mention("dwp|z", "dwp", "ASHA", "MORLEY", "1900-01-01", nino="AB000001A", postcode="SR2 2BB"),
    ]
    frame = pd.concat([population(), pd.DataFrame(rows)], ignore_index=True)
    matcher = Matcher(SMALL)
    result = matcher.link_persons(frame)
    found = pd.concat([result.links, result.review])
    pairs = set(zip(found["mention_id_l"], found["mention_id_r"], strict=True))
    pairs |= {(b, a) for a, b in pairs}
    # 1 January of the year and 01/01/1900 stand for "unknown": at least clerical review
    assert {("health|x", "schools|x"), ("health|x", "housing|x")} <= pairs
    waterfall = matcher.diagnostics.waterfall(frame, "health|x", "housing|x").set_index("comparison")
    assert waterfall.loc["dob", "level"] == "year_placeholder" and waterfall.loc["dob", "weight"] > 0
    assert matcher.diagnostics.waterfall(frame, "police|y", "dwp|z").set_index("comparison").loc["dob", "level"] == "null"
    assert ("police|y", "dwp|z") not in pairs


def test_typos_of_one_name_on_one_nhs_number_are_not_twins_but_similar_twins_stay_apart() -> None:
    rows = [
        mention("health|d1", "health", "DAISY", "REED", "1998-08-22", nhs_number="9990000010", sex="F"),
        mention("health|d2", "health", "NAISY", "REED", "1998-08-22", nhs_number="9990000010", sex="F"),
        mention("health|d3", "health", "DASY", "REED", "1998-08-22", nhs_number="9990000010", sex="F"),
        mention("schools|t1", "schools", "CHARLIE", "WINDALE", "2013-05-04", upn="A1"),
        mention("schools|t2", "schools", "CHARLIQ", "WINDALE", "2013-05-04", upn="A2"),
    ]
    clusters = link(rows)
    assert clusters["health|d1"] == clusters["health|d2"] == clusters["health|d3"]
    assert clusters["schools|t1"] != clusters["schools|t2"]


def test_constraints_lift_identifier_conflicts_on_full_identity_only() -> None:
    frame = pd.DataFrame({
        "first_name": ["AVA"] * 5, "last_name": ["REED"] * 5,
        "dob": pd.to_datetime(["2001-02-03", "2001-02-03", "2001-02-04", "1975-02-05", None]),
        "nhs_number": ["1", "2", "3", "1", "4"],
    })  # fmt: skip
    c = Constraints(frame, identifiers=("nhs_number",))
    # same identity: lifted; a day off: kept; a generation apart on one number: a conflict;
    # an unknown date of birth does not stop the names lifting it
    assert c.conflicts(np.array([0, 0, 0, 0]), np.array([1, 2, 3, 4])).tolist() == [False, True, True, False]


def test_population_links_perfectly() -> None:
    frame = population()
    result = Matcher(SMALL).link_persons(frame)
    person = result.clusters.merge(frame[["mention_id", "person"]], on="mention_id")
    assert person.groupby("person")["cluster"].nunique().max() == 1
    assert person.groupby("cluster")["person"].nunique().max() == 1


def test_incremental_links_new_to_existing_and_new_to_new_only() -> None:
    frame = population(60)
    matcher = Matcher(SMALL)
    first = matcher.link_persons(frame)
    existing = frame.merge(first.clusters[["mention_id", "cluster"]], on="mention_id").rename(
        columns={"cluster": "person_id"}
    )
    target = existing.iloc[0]
    new = pd.DataFrame(
        [
            mention("yot|1", "yot", target["first_name"], target["last_name"], str(target["dob"].date()),
                    postcode=target["postcode"], sex=target["sex"], source_person_id="yot:Y1"),
            mention("yot|2", "yot", "XAVIER", "ZIELINSKI", "2011-11-11", source_person_id="yot:Y2"),
            mention("socialcare|2", "socialcare", "XAVIER", "ZIELINSKI", "2011-11-11"),
        ]
    )  # fmt: skip
    result = Matcher(SMALL, model=matcher.model).link_incremental(existing, new)
    got = result.clusters.set_index("mention_id")
    assert got.loc["yot|1", "cluster"] == got.loc[target["mention_id"], "cluster"]
    assert got.loc["yot|2", "cluster"] == got.loc["socialcare|2", "cluster"]
    touched = got.dropna(subset=["person_id"])["person_id"].unique()
    assert list(touched) == [target["person_id"]]
    # never existing<->existing: every scored pair involves a new mention
    involved = pd.concat([result.links, result.review])
    new_ids = set(new["mention_id"])
    assert involved.apply(
        lambda r: r["mention_id_l"] in new_ids or r["mention_id_r"] in new_ids, axis=1
    ).all()


@pytest.mark.parametrize("bad", ["mention_id"])
def test_mentions_need_unique_ids(bad: str) -> None:
    frame = population(5)
    frame.loc[1, bad] = frame.loc[0, bad]
    with pytest.raises(ValueError, match="unique mention_id"):
        Matcher(SMALL).link_persons(frame)


def test_family_members_sharing_surname_and_address_stay_apart() -> None:
    """Shared household fields outweigh a date-of-birth or first-name clash in a large
    population; the identity guard (Thresholds.identity_min_weight) still keeps them apart."""
    at_home = {"postcode": "DH1 0DS", "address": "77 NEWTON ROAD"}
    rows = [
        mention("police|dad", "police", "MATTHEW", "ELLIS", "1990-10-14", source_person_id="police:N9", **at_home),
        mention("schools|son", "schools", "MATTHEW", "ELLIS", "2017-04-06", upn="B1", **at_home),
        mention("police|mum", "police", "KAREN", "ELLIS", None, sex="F", source_person_id="police:N10", **at_home),
        mention("schools|girl", "schools", "AMELIA", "ELLIS", "2016-01-30", sex="F", upn="B2", **at_home),
    ]  # fmt: skip
    frame = pd.concat([population(), pd.DataFrame(rows)], ignore_index=True)
    trainer = Matcher(SMALL)
    trainer.link_persons(frame)
    model = trainer.model
    for name in ("postcode", "address", "last_name"):  # as rare as in 130k records
        k = model.comparisons.index(name)
        model.u[k][1] = 1e-6
    ids = [r["mention_id"] for r in rows]
    guarded = Matcher(SMALL, model=model).link_persons(frame).clusters.set_index("mention_id")
    assert guarded.loc[ids, "cluster"].nunique() == 4
    model.thresholds = replace(
        model.thresholds, identity_min_weight=-np.inf, identity_review_min_weight=-np.inf
    )
    unguarded = Matcher(SMALL, model=model).link_persons(frame).clusters.set_index("mention_id")
    assert unguarded.loc[ids, "cluster"].nunique() < 4


def test_one_typo_of_a_first_name_does_not_keep_a_childs_records_apart() -> None:
    """Soft rules yield between groups holding one exact name and date: MAY on the school's
    UPN is a typo of AMY, not her twin; a duplicate nominal with a typo is one man."""
    frame = pd.DataFrame({
        "first_name": ["AMY", "MAY", "AMY", "BENJAMIN", "BENAAMIN", "BENJAMIN", "BENJAMIN"],
        "last_name": ["CLARK"] * 3 + ["HUXHOPE"] * 4,
        "dob": pd.to_datetime(["2011-05-12"] * 3 + ["1990-05-27"] * 4),
        "upn": ["A1", "A1", None, None, None, None, None],
        "nhs_number": [None, None, "999", None, None, None, None],
        "source_person_id": [None] * 3 + ["police:N1", "police:N1", "police:N2", "housing:H1"],
        "agency": ["schools", "schools", "health", "police", "police", "police", "housing"],
    })  # fmt: skip
    names = frame["first_name"].to_numpy()
    twins = lambda left, right: (names[left] != names[right], np.zeros(len(left), bool))  # noqa: E731
    c = Constraints(frame, ("upn", "nhs_number"), {"source_person_id": "agency"}, twins)
    assert c.conflicts(np.array([1, 4]), np.array([2, 5])).tolist() == [True, True]  # pairwise
    result = cluster(
        7, np.array([0, 0, 3, 3, 5]), np.array([1, 2, 4, 6, 6]), np.array([30.0, 25, 30, 34, 27]), c
    )
    assert result.labels[0] == result.labels[1] == result.labels[2]
    assert result.labels[3] == result.labels[4] == result.labels[5] == result.labels[6]
    # without a shared exact name and date the soft conflict holds: MAY alone stays apart
    alone = cluster(3, np.array([1]), np.array([2]), np.array([25.0]), c)
    assert alone.labels[1] != alone.labels[2]


def test_different_dates_of_birth_keep_namesake_siblings_apart() -> None:
    frame = pd.DataFrame({
        "first_name": ["JULIA"] * 7,
        "last_name": ["KOWALCZYK"] * 7,
        "dob": pd.to_datetime(["2021-02-10", "2023-05-15", None, "2021-02-18", "2021-10-02",
                               "2021-01-01", "2023-05-15"]),
        "nhs_number": ["1", "2", None, None, None, None, "1"],
    })  # fmt: skip
    c = Constraints(frame, identifiers=("nhs_number",))
    left, right = np.zeros(6, dtype=np.int64), np.arange(1, 7)
    # two parts differ: apart; no date, one part off, a day-month swap, a 1 January
    # placeholder: no conflict; two parts differ on one NHS number: the identifier decides
    assert c.conflicts(left, right).tolist() == [True, False, False, False, False, False]
    # a record without a date between the two sisters joins one of them only
    result = cluster(3, np.array([0, 1]), np.array([2, 2]), np.array([20.0, 15.0]), c)
    assert result.labels[0] == result.labels[2] != result.labels[1]


def test_twins_named_one_letter_apart_stay_apart_but_a_one_off_typo_links() -> None:
    rows = [
        mention("health|lauren", "health", "LAUREN", "WYCCLIFFE", "2015-07-07", nhs_number="9990000021", sex="F"),
        mention("schools|lauren", "schools", "LAUREN", "WYCCLIFFE", "2015-07-07", upn="C1", sex="F"),
        mention("health|lauret", "health", "LAURET", "WYCCLIFFE", "2015-07-07", nhs_number="9990000022", sex="F"),
        mention("schools|lauret", "schools", "LAURET", "WYCCLIFFE", "2015-07-07", upn="C2", sex="F"),
        mention("health|jacob", "health", "JACOB", "PRICE", "1997-07-08", nhs_number="9990000023"),
        mention("police|jacob", "police", "JACOB", "PRICE", "1997-07-08", source_person_id="police:N31"),
        mention("housing|jaciob", "housing", "JACIOB", "PRICE", "1997-07-08"),
    ]  # fmt: skip
    clusters = link(rows)
    assert clusters["health|lauren"] == clusters["schools|lauren"]
    assert clusters["health|lauret"] == clusters["schools|lauret"]
    assert clusters["health|lauren"] != clusters["health|lauret"]
    assert clusters["health|jacob"] == clusters["police|jacob"] == clusters["housing|jaciob"]


def test_a_baby_born_on_the_mothers_birthday_is_not_a_typo_in_the_year() -> None:
    frame = pd.DataFrame({
        "first_name": ["SIOBHAN", "SAOIRSE", "SIOBHAN", "SIOBHAN"],
        "last_name": ["NI BHRIAIN"] * 4,
        "dob": pd.to_datetime(["1990-04-13", "2026-04-13", "1970-04-13", "2090-04-13"]),
        "nhs_number": ["9993174734"] * 4,
    })  # fmt: skip
    c = Constraints(frame, identifiers=("nhs_number",))
    # mother and baby on one NHS number: apart; 1990 for 1970 (one digit) or 2090 (the
    # century) on the same day: a typo in the year, the shared number links them
    assert c.conflicts(np.zeros(3, np.int64), np.arange(1, 4)).tolist() == [True, False, False]


def test_a_twins_name_is_established_under_a_step_parents_surname_too() -> None:
    rows = [
        mention("health|craig", "health", "CRAIG", "BOOKER", "2014-01-20", nhs_number="9990000031"),
        mention("schools|craig", "schools", "CRAIG", "BOOKER", "2014-01-20", upn="D1"),
        mention("schools|craid", "schools", "CRAID", "PITTS", "2014-01-20", upn="D2"),
        mention("police|craid", "police", "CRAID", "PITTS", "2014-01-20", source_person_id="police:N41"),
        mention("housing|craid", "housing", "CRAID", "BOOKER", "2014-01-20", source_person_id="housing:H41"),
    ]  # fmt: skip
    clusters = link(rows)
    assert clusters["health|craig"] == clusters["schools|craig"]
    assert clusters["housing|craid"] != clusters["health|craig"]


def test_row_codes_number_rows_in_sorted_order() -> None:
    # the codes group and order rows exactly as ``np.unique(axis=0)``, which they replace
    rows = np.random.default_rng(3).integers(-1, 6, size=(500, 3))
    expected = np.unique(rows, axis=0, return_inverse=True)[1].reshape(-1)
    assert _row_codes(rows).tolist() == expected.tolist()
    assert _row_codes(rows[:0]).tolist() == []
