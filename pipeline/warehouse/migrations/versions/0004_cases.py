"""Casework follows identities: a stable case per attachment, the families each case covers,
its history and the coordinator's review items; claims keyed on the case, not the family id.

A warehouse from before cases gets one case per attached family (``C`` + its family id), and
its claims are moved to the case key (the table is re-created: DuckDB cannot change a key).
"""

import sqlalchemy as sa
from alembic import op

from pipeline.warehouse.schema import apply_sql

revision = "0004"
down_revision = "0003"

_OLD_ATTACHMENTS = "family_id, key_worker, attached_on, closed_on, recorded_at"
_OLD_CLAIMS = ("claim_id, programme, claim_window, claim_date, family_id, payment, result, programme_year, "
               "attached_on, amount, evidence, made_at")


def upgrade() -> None:
    bind = op.get_bind()
    if not _has_column(bind, "attachments", "case_id"):  # re-created: DuckDB cannot index updated rows
        op.execute("alter table cohort.attachments rename to attachments_before_cases")
        apply_sql(bind, "cohort/attachments.sql")
        op.execute(f"insert into cohort.attachments ({_OLD_ATTACHMENTS}, case_id) "
                   f"select {_OLD_ATTACHMENTS}, 'C' || family_id from cohort.attachments_before_cases")
        _drop(bind, "attachments_before_cases")
    apply_sql(bind, "cohort/case_events.sql", "cohort/case_families.sql", "cohort/case_reviews.sql")
    op.execute("insert into cohort.case_families (case_id, family_id) "
               "select distinct a.case_id, a.family_id from cohort.attachments a "
               "where not exists (select 1 from cohort.case_families c where c.case_id = a.case_id)")
    if not _has_column(bind, "claims", "case_id"):
        op.execute("alter table cohort.claims rename to claims_before_cases")
        apply_sql(bind, "cohort/claims.sql")
        op.execute(f"insert into cohort.claims ({_OLD_CLAIMS}, case_id) "
                   f"select {_OLD_CLAIMS}, 'C' || family_id from cohort.claims_before_cases")
        _drop(bind, "claims_before_cases")
    apply_sql(bind, "cohort/family_attachments.sql")


def _has_column(bind: sa.Connection, table: str, column: str) -> bool:
    return bool(bind.execute(sa.text(
        "select count(*) from information_schema.columns where table_schema = 'cohort' "
        "and table_name = :t and column_name = :c"), {"t": table, "c": column}).scalar())


def _drop(bind: sa.Connection, table: str) -> None:
    """Drop a copied-out table; dependent views (re-created at head) go with it on PostgreSQL."""
    op.execute(f"drop table cohort.{table}" + (" cascade" if bind.dialect.name == "postgresql" else ""))


def downgrade() -> None:
    raise NotImplementedError("FamilyHub migrations go forward only: restore a backup to go back")
