-- Every read of identifiable data through FamilyHub, every export, erasure, retention run and
-- grant: who (actor as given, and the warehouse login), when, which family or person, and why.
-- A read or export showing several families or persons writes one row for each of them.
-- Append-only: on PostgreSQL a trigger (sql/ops/postgresql/) refuses update, delete and
-- truncate; on DuckDB FamilyHub only ever inserts (pipeline/audit.py).
create table if not exists ops.audit_log (
  logged_at timestamp not null,
  actor text not null,             -- --as NAME, else FAMILYHUB_USER, else the OS user
  db_user text,                    -- the warehouse login that wrote the row
  action text not null,            -- view_family | view_records | export | erase | retention | grant
                                   -- | denied | add_need | change_need | close_need
  family_id text,
  person_id text,
  reason text,                     -- why (required for identifiable reads)
  detail text
);
