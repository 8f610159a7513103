-- Clerical review decisions (append-only log; the latest answer per pair wins). Keyed by
-- (agency, record_key) pairs so they bind every later run whatever the person ids.
create table if not exists linked.review_decisions (
  agency_l text not null,
  record_key_l text not null,
  agency_r text not null,
  record_key_r text not null,
  decision text not null,            -- match | non-match | unsure | undo
  decided_by text not null,
  decided_at timestamp not null,
  note text
);
