"""A year in service: 13 monthly deliveries with attachments and claims in the middle.

A generated area is delivered as a baseline plus 12 monthly deltas (``extracts=13``) and the
whole pipeline runs after each (``benchmarks.year.replay``). In month 5 eligible families and
three more are attached; before month 6 a police file of two domestic incidents moves a person
of one attached family into another attached family (a split) and the only person of a third
attached family there too (a merge of two attached families); claims are made in month 8 and
at the end. Casework must follow the records throughout.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import date, timedelta

import pandas as pd
import pytest

from benchmarks.year import attach_eligible, replay
from matching.households import HouseholdRules, build_households
from pipeline.generator import generate
from pipeline.generator.delivery import file_bytes
from pipeline.generator.extracts import FORMATS
from pipeline.generator.replay import Delivery, deliveries
from pipeline.linkage import link as link_stage
from pipeline.programme.claims import make_claims
from pipeline.programme.keyworkers import EPISODES, attach
from pipeline.warehouse.engine import Warehouse

pytestmark = pytest.mark.xdist_group("year")  # one replay for the module, not one per worker

ATTACH_MONTH, INCIDENT_MONTH, CLAIM_MONTH = 5, 6, 8  # programme year 1 of tf2015 starts in month 5
KEY_WORKERS = ["Ann", "Bob", "Cat"]


def _families_by_size(wh: Warehouse) -> pd.DataFrame:
    """Unattached families with their adults' identities (for the constructed incidents)."""
    return wh.read(
        "select f.family_id, f.n_members, p.person_id, p.first_name, p.last_name, p.date_of_birth, p.sex, "
        "p.address, p.postcode from linked.families f join linked.person_family m on m.family_id = f.family_id "
        "join linked.persons p on p.person_id = m.person_id "
        "where p.address is not null and p.postcode is not null and p.date_of_birth is not null "
        "and f.family_id not in (select family_id from cohort.family_attachments) "
        "order by f.family_id, p.date_of_birth, p.person_id")


def _incident_file(wh: Warehouse, pairs: list[tuple[pd.Series, pd.Series]], when: date) -> bytes:
    """A police file: per pair, a domestic incident at the first person's address naming both."""
    ids = wh.read("select m.person_id, min(s.source_person_id) as nominal from staging.person_mentions s "
                  "join linked.mention_person m on m.mention_id = s.mention_id where s.agency = 'police' "
                  "group by m.person_id").set_index("person_id")["nominal"]
    rows = []
    for k, (host, guest) in enumerate(pairs):
        for j, (who, role) in enumerate(((host, "VICTIM"), (guest, "SUSPECT"))):
            nominal = ids.get(who["person_id"])
            rows.append({
                "OccurrenceRef": f"OC/2026/9{k:05d}",
                "NominalId": nominal.split(":", 1)[1] if isinstance(nominal, str) else f"N9{k:05d}{j}",
                "FullName": f"{who['last_name'].upper()}, {who['first_name']}",
                "DOB": pd.Timestamp(who["date_of_birth"]).strftime("%d/%m/%Y"), "Sex": who["sex"],
                "Address": host["address"], "Postcode": host["postcode"],
                "OccurrenceDateTime": f"{when - timedelta(days=3):%d/%m/%Y} 22:15", "Category": "DOMESTIC_INCIDENT",
                "Role": role, "OffenceCode": "", "DomesticAbuse": "Y"})
    return file_bytes(FORMATS["police"], pd.DataFrame(rows), when)


#: The constructed incident moves one adult into another family. The household rules that read
#: address history (people who moved together, a rare surname at an earlier postcode) would keep
#: that adult tied to their own family and make the split a merge; this replay is about casework
#: across merges and splits, not those rules, so it leaves them off to get one of each.
NO_HISTORY_RULES = HouseholdRules(surname_earlier_postcode=False, moved_together=10**6)


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(link_stage, "build_households", functools.partial(build_households, rules=NO_HISTORY_RULES))
        yield from _replay_a_year(tmp_path_factory)


def _replay_a_year(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("year")
    out = root / "generated"
    generate(out, 300, 7, extracts=13, bad_files=False)
    wh = Warehouse.connect(f"duckdb:///{root / 'wh.duckdb'}")
    wh.migrate()
    seen: dict = {"cover": {}, "runs": {}, "attached": {}}

    def before(month: int, delivery: Delivery) -> None:
        seen["cover"][month] = wh.read(f"select case_id, family_id from ({EPISODES}) e where closed_on is null")
        if month == INCIDENT_MONTH:
            when = delivery.as_of - timedelta(days=1)
            path = root / "work" / "landing" / "police" / f"police_{when:%Y%m%d}_3.csv"
            path.write_bytes(_incident_file(wh, seen["pairs"], when))

    def after(month: int, delivery: Delivery) -> None:
        seen["runs"][month] = wh.scalar("select run_id from linked.runs order by started_at desc limit 1")
        if month == ATTACH_MONTH:
            attach_eligible(wh, delivery.as_of, 12, KEY_WORKERS)
            people = _families_by_size(wh)
            big = people[people["n_members"] >= 2].drop_duplicates("family_id")
            single = people[people["n_members"] == 1].drop_duplicates("family_id")
            host, guest_family, lone = big.iloc[0], big.iloc[1], single.iloc[0]
            for i, family in enumerate((host, guest_family, lone)):
                attach(wh, family["family_id"], KEY_WORKERS[i], delivery.as_of)
            seen["pairs"] = [(host, guest_family), (host, lone)]
            seen["attached"] = wh.read(
                f"select e.case_id, e.key_worker, m.mention_id from ({EPISODES}) e "
                "join linked.person_family f on f.family_id = e.family_id "
                "join linked.mention_person m on m.person_id = f.person_id")
        if month == CLAIM_MONTH:
            make_claims(wh, "tf2015", "2026-H1", claim_date=date(2026, 6, 30))

    replay(wh, out, root / "work", before=before, after=after)
    make_claims(wh, "tf2015", "2026-H2", claim_date=deliveries(out)[-1].as_of)
    yield {"wh": wh, **seen}
    wh.engine.dispose()


def test_no_attached_familys_records_end_without_its_key_worker(year: dict):
    wh = year["wh"]
    where = wh.read("select m.mention_id, f.family_id from linked.mention_person m "
                    "join linked.person_family f on f.person_id = m.person_id")
    visible = wh.read(f"select family_id, key_worker from ({EPISODES}) e where closed_on is null")
    records = year["attached"].merge(where, on="mention_id")
    assert len(records) > 50
    seen = records.merge(visible, on=["family_id", "key_worker"], how="left", indicator=True)
    assert (seen["_merge"] == "both").all(), seen[seen["_merge"] != "both"].head()


def test_no_family_claimed_twice(year: dict):
    wh = year["wh"]
    claims = wh.read("select c.claim_window, c.case_id, c.payment, f.family_id from cohort.claims c "
                     "join cohort.case_families f on f.case_id = c.case_id")
    assert set(claims["claim_window"]) == {"2026-H1", "2026-H2"}
    assert not claims.duplicated(["payment", "family_id"]).any()
    per_case = wh.read("select case_id, payment from cohort.claims")
    assert not per_case.duplicated().any() and (per_case["payment"] == "attachment").sum() >= 5


def test_every_merge_or_split_of_an_attached_family_has_a_review_item(year: dict):
    wh = year["wh"]
    events = wh.read("select run_id, event, old_id, new_id from linked.lineage_events "
                     "where kind = 'family' and event in ('merged', 'split')")
    reviews = wh.read("select run_id, case_id, kind from cohort.case_reviews")
    touched = []
    for month, cover in year["cover"].items():
        if month <= ATTACH_MONTH:
            continue
        run = events[events["run_id"] == year["runs"][month]]
        touched.append(run.merge(cover, left_on="old_id", right_on="family_id"))
    touched = pd.concat(touched, ignore_index=True)
    assert {"merged", "split"} <= set(touched["event"])  # the replay exercises both
    missing = touched.merge(reviews, on=["run_id", "case_id"], how="left", indicator=True)
    assert (missing["_merge"] == "both").all(), missing[missing["_merge"] != "both"]
    assert "shared" in set(reviews["kind"])  # two attached families merged


def test_case_history_says_where_the_attachment_went(year: dict):
    history = year["wh"].read("select event, detail from cohort.case_events")
    assert {"attached", "followed", "covered"} <= set(history["event"])
    assert history.loc[history["event"] == "followed", "detail"].str.contains("the case follows").all()


def test_year_replay_is_in_13_deliveries(year: dict):
    assert sorted(year["runs"]) == list(range(13)) and len(set(year["runs"].values())) == 13
