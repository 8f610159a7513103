-- Event versions loaded since the alert pass last looked (cohort.alert_seen). On PostgreSQL a
-- trigger on staging.events adds a row per event loaded, in the load's transaction; the pass
-- takes the rows off and compares only their events, so a monthly pass reads the month's
-- events rather than every event ever loaded. (DuckDB has no triggers: there it stays empty.)
create table if not exists cohort.alert_queue (
  mention_id text collate "C" not null,
  version bigint not null
);
