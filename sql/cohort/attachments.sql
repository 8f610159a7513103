-- Families attached to a key worker (payment by results starts here); history is kept.
-- Casework follows a stable case (case_id), never the family id, which can retire: the family
-- a case now covers is in cohort.case_families, kept up to date from linked.lineage_events.
create table if not exists cohort.attachments (
  family_id text not null,          -- the family as it was when this row was recorded
  key_worker text not null,
  attached_on date not null,
  closed_on date,
  recorded_at timestamp not null,
  case_id text
);
