-- Queue the event versions a statement loads into staging.events for the next alert pass
-- (cohort.alert_queue), whoever loads them (ingest, reprocess, a fixture). Owner's rights: a
-- loader granted before the queue existed still loads.
create or replace function ops.alert_queue_fill() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  insert into cohort.alert_queue (mention_id, version) select mention_id, version from arrived;
  return null;
end
$$
