-- A case's history: attached, followed a merge, covered a split part, lost a family, decided.
create table if not exists cohort.case_events (
  case_id text not null,
  run_id text,                      -- the link run (null for a coordinator's decision)
  event text not null,              -- attached | followed | covered | lost | decided
  family_id text,                   -- the family the case covers (or stops covering)
  from_family_id text,              -- the family it came from
  detail text not null,
  recorded_at timestamp not null
);
