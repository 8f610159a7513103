-- Review items for the coordinator: an attached family merged or split, or two cases now share
-- a family. Until decided, every key worker of the case keeps seeing every family it covers.
create table if not exists cohort.case_reviews (
  review_id text not null primary key,
  case_id text not null,
  run_id text not null,
  kind text not null,               -- merged | split | shared
  families text not null,           -- the families the case covers, comma separated
  other_cases text,                 -- kind shared: the other cases covering one of them
  detail text not null,
  raised_at timestamp not null,
  decision text,                    -- the families the case keeps, comma separated
  decided_by text,
  decided_at timestamp
);
