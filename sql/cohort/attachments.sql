-- Families attached to a key worker (payment by results starts here); history is kept.
create table if not exists cohort.attachments (
  family_id text not null,
  key_worker text not null,
  attached_on date not null,
  closed_on date,
  recorded_at timestamp not null
);
