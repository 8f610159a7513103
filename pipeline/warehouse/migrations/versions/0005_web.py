"""The web front end: accounts, sessions, login attempts and read alerts; on PostgreSQL, the
indexes its pages (a family, a key worker's families, the cohort by priority) and row security
read through.

The indexes are PostgreSQL's only: DuckDB's indexes refuse to delete rows the link stage
rewrites in the same transaction ("Failed to delete all rows from index"), and an embedded
warehouse serves one user, for whom a scan is quick.
"""

from alembic import op

from pipeline.warehouse.schema import apply_sql

revision = "0005"
down_revision = "0004"

INDEXES = ("cohort/attachments_by_family.sql", "cohort/attachments_by_key_worker.sql",
           "cohort/attachments_by_case.sql", "cohort/evidence_by_family.sql", "cohort/results_by_priority.sql",
           "linked/mention_person_by_person.sql", "linked/person_family_by_family.sql")


def upgrade() -> None:
    bind = op.get_bind()
    apply_sql(bind, "ops/web_users.sql", "ops/web_sessions.sql", "ops/web_login_attempts.sql",
              "ops/web_alert_reads.sql")
    if bind.dialect.name == "postgresql":
        apply_sql(bind, *INDEXES)


def downgrade() -> None:
    raise NotImplementedError("FamilyHub migrations go forward only: restore a backup to go back")
