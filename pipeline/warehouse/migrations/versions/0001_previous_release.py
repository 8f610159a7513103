"""The schema of the first release (0.1): ops ledger, staging, linked and cohort tables.

Applies the files idempotently (``create table if not exists``), so a warehouse the first
release made, which has no version table, upgrades in place with every row kept.
"""

from alembic import op

from pipeline.warehouse.schema import apply_sql

revision = "0001"
down_revision = None

FILES = (
    "ops/audit_log.sql", "ops/files.sql", "ops/held_rows.sql", "ops/key_worker_logins.sql",
    "ops/pseudonym_key.sql", "ops/pseudonyms.sql", "ops/removed_rows.sql", "ops/tombstones.sql",
    "staging/events.sql", "staging/person_mentions.sql",
    "linked/families.sql", "linked/household_edges.sql", "linked/lineage_events.sql",
    "linked/mention_person.sql", "linked/person_family.sql", "linked/persons.sql",
    "linked/record_links.sql", "linked/review_decisions.sql", "linked/runs.sql",
    "cohort/active.sql", "cohort/alert_deliveries.sql", "cohort/alert_passes.sql", "cohort/alert_seen.sql",
    "cohort/alerts.sql", "cohort/attachments.sql", "cohort/claim_evidence.sql", "cohort/claims.sql",
    "cohort/evidence.sql", "cohort/family_outcomes.sql", "cohort/key_workers.sql", "cohort/referrals.sql",
    "cohort/results.sql",
)


def upgrade() -> None:
    apply_sql(op.get_bind(), *FILES)


def downgrade() -> None:
    raise NotImplementedError("FamilyHub migrations go forward only: restore a backup to go back")
