-- The events behind each criterion a family meets, per programme and as-of date.
create table if not exists cohort.evidence (
  family_id text not null,
  programme text not null,
  as_of date not null,
  criterion text not null,
  person_id text,
  agency text,
  record_key text,
  event_date date,
  detail text
);
