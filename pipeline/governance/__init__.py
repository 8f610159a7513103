"""Governance: access roles, audit log, erasure and identifiable exports."""
