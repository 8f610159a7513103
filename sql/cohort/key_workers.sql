-- Key workers and the address their alerts are e-mailed to (set with `familyhub attach --email`).
create table if not exists cohort.key_workers (
  key_worker text primary key,
  email text,
  updated_at timestamp not null
);
