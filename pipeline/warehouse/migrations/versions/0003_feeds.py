"""Partner feeds: file modification times in the ledger (a poke skips unchanged files), notices
sent to the data team and agency contacts, and each delivery's match rate."""

from alembic import op

from pipeline.warehouse.schema import apply_sql

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute("alter table ops.files add column if not exists mtime_ns bigint")
    apply_sql(op.get_bind(), "ops/notices.sql", "linked/delivery_match_rates.sql")


def downgrade() -> None:
    raise NotImplementedError("FamilyHub migrations go forward only: restore a backup to go back")
