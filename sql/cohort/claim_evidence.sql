-- What each claim rests on, for the auditor: one row per event or figure.
create table if not exists cohort.claim_evidence (
  claim_id text not null,
  item text not null,               -- criterion or test, e.g. crime_asb, youth_offending
  person_id text,
  agency text,
  record_key text,
  event_date date,
  detail text not null
);
