"""The evidence of one evaluation by (programme, as-of date): each cohort run deletes the
evaluation it replaces, which otherwise reads the evidence of every evaluation kept (a table
that grows by an evaluation's evidence every month).

PostgreSQL's only, as the indexes of revision 0005 are (its docstring says why).
"""

from alembic import op

from pipeline.warehouse.schema import apply_sql

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        apply_sql(bind, "cohort/evidence_by_evaluation.sql")


def downgrade() -> None:
    raise NotImplementedError("FamilyHub migrations go forward only: restore a backup to go back")
