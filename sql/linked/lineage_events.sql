-- Every change of a stable id: created, merged, split, retired (append-only history).
create table if not exists linked.lineage_events (
  run_id text not null,
  kind text not null,                -- person | family
  event text not null,
  old_id text,
  new_id text,
  n_keys integer,
  reason text
);
