-- Row-level security: the members of the families the role now querying may see.
create or replace function ops.fh_visible_persons() returns setof text
language sql stable set search_path = pg_catalog, pg_temp as $$
  select ops.fh_persons_of(current_user::text)
$$
