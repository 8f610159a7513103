"""Airflow assets: the warehouse tables a later stage waits for, each defined once, here.

An ingest DAG updates its agency's staging asset when it has loaded a file; the
link-and-cohort DAG is scheduled on those assets and updates the cohort asset. URIs follow
``familyhub://<schema>/<table>``; for the staging layer the "table" is the agency's slice
of ``staging.person_mentions`` and ``staging.events``. Built from the agency registry, so a
new agency gets its asset without a code change.
"""

from __future__ import annotations

from airflow.sdk import Asset

from pipeline.ingest.agencies import agency_names

__all__ = ["COHORT", "GROUP", "staging_asset", "staging_assets"]

GROUP = "familyhub"


def staging_asset(agency: str) -> Asset:
    """The asset an agency's ingest DAG updates after loading a file."""
    return Asset(name=f"familyhub_staging_{agency}", uri=f"familyhub://staging/{agency}", group=GROUP)


def staging_assets() -> dict[str, Asset]:
    """Every declared agency's staging asset, by agency name."""
    return {name: staging_asset(name) for name in agency_names()}


COHORT = Asset(name="familyhub_reporting_cohort", uri="familyhub://reporting/cohort", group=GROUP)
