-- One row per person: the best (most trusted, most recent) identifying values across agencies.
create table if not exists linked.persons (
  person_id text primary key,
  first_name text,
  last_name text,
  date_of_birth date,
  sex text,
  address text,
  postcode text,
  agencies text,                     -- comma separated, sorted
  n_mentions integer not null
);
