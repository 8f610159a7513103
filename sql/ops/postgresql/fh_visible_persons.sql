-- Row-level security: the members of the families the key worker logged in may see.
create or replace function ops.fh_visible_persons() returns setof text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select person_id from linked.person_family
  where family_id in (select ops.fh_visible_families())
$$
