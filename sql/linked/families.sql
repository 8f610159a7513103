-- One row per family: its current address.
create table if not exists linked.families (
  family_id text primary key,
  address text,
  postcode text,
  uprn text,
  n_members integer not null
);
