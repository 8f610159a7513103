"""Attach, reassign and close families: history kept, the family view follows, bad requests refused."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.programme.keyworkers import attach, close, current, episodes, set_email
from pipeline.warehouse.engine import Warehouse

#: For tests whose SQL is covered on both backends elsewhere: DuckDB only, to keep the suite quick.
duckdb_only = pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)


@pytest.fixture
def families(warehouse: Warehouse) -> Warehouse:
    with warehouse.begin() as conn:
        warehouse.insert(conn, "linked.families", pd.DataFrame({"family_id": ["F1", "F2"], "n_members": [2, 3]}))
    return warehouse


def view(wh: Warehouse, family: str = "F1") -> tuple[str | None, str | None]:
    row = wh.read("select status, key_worker from reporting.family_view where family_id = :f", {"f": family}).iloc[0]
    return row["status"], row["key_worker"]


def test_attach_reassign_close_and_attach_again_keep_history(families: Warehouse):
    wh = families
    attach(wh, "F1", "Ann", date(2026, 5, 1))
    assert view(wh) == ("attached", "Ann")
    assert attach(wh, "F1", "Ann", date(2026, 6, 1)).attached_on == date(2026, 5, 1)  # no change
    attach(wh, "F1", "Bob", date(2026, 7, 1), reassign=True)
    assert view(wh) == ("attached", "Bob")
    assert current(wh, "F1").attached_on == date(2026, 5, 1)  # reassigning keeps the attachment date
    close(wh, "F1", date(2026, 9, 30))
    assert view(wh) == ("closed", "Bob")
    attach(wh, "F1", "Cat", date(2026, 10, 1))
    assert view(wh) == ("attached", "Cat")
    assert view(wh, "F2") == (None, None)

    log = wh.read("select key_worker, attached_on, closed_on from cohort.attachments order by recorded_at")
    assert log["key_worker"].tolist() == ["Ann", "Bob", "Bob", "Cat"]
    assert log["closed_on"].notna().tolist() == [False, False, True, False]
    spans = episodes(wh)
    assert spans["attached_on"].dt.date.tolist() == [date(2026, 5, 1), date(2026, 10, 1)]
    assert spans["key_worker"].tolist() == ["Bob", "Cat"]


@duckdb_only
@pytest.mark.parametrize(("steps", "message"), [
    ([("attach", "F9", "Ann", date(2026, 5, 1))], "no family F9"),
    ([("attach", "F1", "Ann", date(2026, 5, 1)), ("attach", "F1", "Bob", date(2026, 5, 2))],
     "attached to Ann since 2026-05-01"),
    ([("close", "F1", date(2026, 5, 1))], "not attached"),
    ([("attach", "F1", "Ann", date(2026, 5, 1)), ("close", "F1", date(2026, 4, 30))], "cannot close before"),
    ([("attach", "F1", "Ann", date(2026, 5, 1)), ("close", "F1", date(2026, 6, 1)),
      ("attach", "F1", "Bob", date(2026, 5, 31))], "attach it again on or after"),
    ([("attach", "F1", " ", date(2026, 5, 1))], "key worker's name"),
])
def test_refused_changes_say_why(families: Warehouse, steps, message):
    *before, last = steps
    for name, *args in before:
        {"attach": attach, "close": close}[name](families, *args)
    with pytest.raises(ValueError, match=message):
        {"attach": attach, "close": close}[last[0]](families, *last[1:])


@duckdb_only
def test_email_address_is_validated_and_replaced(families: Warehouse):
    with pytest.raises(ValueError, match="not an e-mail address"):
        set_email(families, "Ann", "ann at council")
    set_email(families, "Ann", "ann@old.example")
    set_email(families, "Ann", "ann@council.example")
    assert families.read("select key_worker, email from cohort.key_workers").values.tolist() == \
        [["Ann", "ann@council.example"]]


def test_cli_attach_and_close(families: Warehouse, warehouse_url: str):
    runner = CliRunner()
    out = runner.invoke(main, ["attach", "F1", "--key-worker", "Ann", "--date", "2026-05-01",
                               "--email", "ann@council.example", "--warehouse", warehouse_url])
    assert out.exit_code == 0, out.output
    assert "F1: attached to Ann since 2026-05-01" in out.output
    refused = runner.invoke(main, ["attach", "F1", "--key-worker", "Bob", "--warehouse", warehouse_url])
    assert refused.exit_code == 1 and "close it first or reassign it" in refused.output
    out = runner.invoke(main, ["close", "F1", "--date", "2026-12-01", "--warehouse", warehouse_url])
    assert out.exit_code == 0 and "closed on 2026-12-01" in out.output
    assert view(families) == ("closed", "Ann")
