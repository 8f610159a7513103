-- The event versions every alert pass has already looked at: an event is new to a pass when
-- its mention is absent here or arrives in a later version (a correction).
create table if not exists cohort.alert_seen (
  mention_id text collate "C" primary key,
  version bigint not null,
  seen_at timestamp not null
);
