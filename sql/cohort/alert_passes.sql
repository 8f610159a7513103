-- One row per alert pass (after each load and link): what it looked at and what it raised.
create table if not exists cohort.alert_passes (
  pass_id text primary key,
  started_at timestamp not null,
  programme text not null,          -- whose absence threshold was applied
  n_new_events integer not null,
  n_alerts integer not null
);
