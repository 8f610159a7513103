"""The alert pass's queue of loaded event versions (``cohort.alert_queue``): each pass found its
new events by comparing every event with ``cohort.alert_seen``, a read of the whole area every
month. On PostgreSQL a trigger fills the queue (installed at head, as every function and
trigger: :func:`pipeline.warehouse.schema.refresh_replaceable`), and it starts with the events
the next pass would have found new, so that pass raises the same alerts. DuckDB has no
triggers: its passes compare every event, as before.
"""

from alembic import op

from pipeline.warehouse.schema import apply_sql

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    bind = op.get_bind()
    apply_sql(bind, "cohort/alert_queue.sql")
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(
            "insert into cohort.alert_queue (mention_id, version) select e.mention_id, e.version "
            "from staging.events e where not exists (select 1 from cohort.alert_seen s "
            "where s.mention_id = e.mention_id and s.version >= e.version)")


def downgrade() -> None:
    raise NotImplementedError("FamilyHub migrations go forward only: restore a backup to go back")
