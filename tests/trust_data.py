"""Shared set-up for the data-protection tests: a small linked warehouse from generated extracts."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from pipeline.ingest.load import find_files, ingest_landing
from pipeline.linkage.link import link
from pipeline.programme.identification import evaluate_cohort
from pipeline.warehouse.engine import Warehouse

AS_OF = date(2026, 11, 1)
AGENCIES = ("police", "health", "socialcare")


def small_landing(target: Path, agencies: tuple[str, ...] = AGENCIES, households: int = 60,
                  files: int = 2) -> Path:
    """A landing folder with the first ``files`` generated extracts of a few agencies."""
    from pipeline.generator import generate

    generate(target / "generated", households=households, seed=5, bad_files=False)
    landing = target / "landing"
    for agency in agencies:
        (landing / agency).mkdir(parents=True)
        for path in find_files(target / "generated" / "landing", agency)[:files]:
            shutil.copy2(path, landing / agency / path.name)
    return landing


def build_linked(wh: Warehouse, landing: Path) -> None:
    """Ingest, link and evaluate tf2015, as the pipeline does."""
    ingest_landing(wh, landing, landing.parent / "quarantine")
    link(wh, AS_OF)
    evaluate_cohort(wh, "tf2015", AS_OF)


def as_login(url: str, login: str) -> str:
    """The same database, connected as another login (the test server trusts 127.0.0.1)."""
    return sa.make_url(url).set(username=login, password=None).render_as_string(hide_password=False)
