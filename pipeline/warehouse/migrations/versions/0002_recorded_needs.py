"""Recorded needs (Supporting Families 2022–25): needs found at assessment, with their history."""

from alembic import op

from pipeline.warehouse.schema import apply_sql

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    apply_sql(op.get_bind(), "cohort/recorded_needs.sql")


def downgrade() -> None:
    raise NotImplementedError("FamilyHub migrations go forward only: restore a backup to go back")
