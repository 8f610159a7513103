"""Shared fixtures: warehouses on both backends, and small generated landing folders.

PostgreSQL tests use a fresh database per test on the local server (FAMILYHUB_TEST_PG, an
admin URL); they fail rather than skip when the server is down: `make test` starts it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline.warehouse.engine import Warehouse

PG_ADMIN = os.environ.get("FAMILYHUB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("select 1"))
    yield engine
    engine.dispose()


@contextmanager
def fresh_pg_database(admin: sa.Engine) -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards (for any scope)."""
    name = f"fh_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))


@pytest.fixture
def pg_url(pg_admin: sa.Engine) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with fresh_pg_database(pg_admin) as url:
        yield url


@pytest.fixture(scope="module")
def pg_module_url(pg_admin: sa.Engine) -> Iterator[str]:
    """A fresh PostgreSQL database shared by one test module (for an expensive pipeline run)."""
    with fresh_pg_database(pg_admin) as url:
        yield url


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty warehouse, once per backend."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'wh.duckdb'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    wh = Warehouse.connect(warehouse_url)
    wh.migrate()
    yield wh
    wh.engine.dispose()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated data set (landing, bad files, truth), shared read-only by tests."""
    from pipeline.generator import generate

    out = tmp_path_factory.mktemp("generated")
    generate(out, households=300, seed=11)
    return out
