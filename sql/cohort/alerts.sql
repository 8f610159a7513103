-- Alerts for key workers: at most one per event (mention), raised by the pass that first
-- saw the event qualify for a member of a family attached at the time.
create table if not exists cohort.alerts (
  alert_id text primary key,        -- <pass_id>:<mention_id>
  mention_id text collate "C" not null unique,
  version bigint not null,          -- the event version the alert was raised on
  pass_id text not null,
  raised_at timestamp not null,
  key_worker text not null,
  family_id text not null,
  person_id text not null,
  kind text not null,               -- police | hospital | school | social_care | out_of_work
  agency text not null,
  record_key text not null,
  event_type text not null,
  event_date date,
  detail text not null
);
