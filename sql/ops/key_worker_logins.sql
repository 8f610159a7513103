-- Which warehouse login is which key worker (cohort.attachments.key_worker): on PostgreSQL,
-- row-level security shows a key worker only the families currently attached to them.
create table if not exists ops.key_worker_logins (
  login text primary key,
  key_worker text not null,
  granted_at timestamp not null
);
