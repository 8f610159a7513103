"""Ingest: read, gate and load partner extracts (landing -> raw -> staging)."""
