"""Alembic scripts of the warehouse schema (run through :mod:`pipeline.warehouse.schema`)."""
