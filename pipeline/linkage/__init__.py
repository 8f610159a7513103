"""Linkage stage: persons and families from staging mentions, review queue."""
