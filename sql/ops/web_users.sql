-- Accounts of the web front end (`familyhub user add`): one role each; passwords hashed with
-- argon2id (never stored in clear). A disabled account cannot sign in and its sessions end.
create table if not exists ops.web_users (
  name text primary key,           -- sign-in name; on PostgreSQL also the database login
  role text not null,              -- keyworker | coordinator | manager | datateam
  key_worker text,                 -- keyworker: the name in cohort.attachments.key_worker
  password_hash text,              -- argon2id; null for single-sign-on-only accounts
  disabled boolean not null default false,
  created_at timestamp not null,
  updated_at timestamp not null
);
