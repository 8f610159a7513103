"""Throw-away PostgreSQL warehouses for the benchmarks: one place that creates and drops them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from pipeline.warehouse.engine import Warehouse

__all__ = ["pg_warehouse"]


@contextmanager
def pg_warehouse(admin_url: str, prefix: str = "fh_bench") -> Iterator[Warehouse]:
    """A fresh PostgreSQL warehouse (database ``prefix_<random>``), dropped afterwards."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    wh = Warehouse.connect(admin.url.set(database=name).render_as_string(hide_password=False))
    wh.migrate()
    try:
        yield wh
    finally:
        wh.engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()
