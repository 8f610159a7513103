-- One row per linkage run: when, how (full or incremental), what it found, the model it used.
create table if not exists linked.runs (
  run_id text primary key,
  as_of date not null,
  mode text not null,                -- full | incremental | unchanged
  started_at timestamp not null,
  finished_at timestamp,
  n_mentions integer,
  n_new_mentions integer,
  n_persons integer,
  n_families integer,
  n_review integer,
  model_json text,                   -- the trained Fellegi-Sunter parameters of this run
  stats_json text,                   -- blocking report, timings, run-gate warnings
  warnings text
);
