"""Warehouse: the engine over both backends, schema and integrity checks."""
