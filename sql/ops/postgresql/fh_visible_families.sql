-- Row-level security: the families the role now querying may see. Invoker rights, so
-- current_user is the key worker's login also when the web server acts as it (SET ROLE).
create or replace function ops.fh_visible_families() returns setof text
language sql stable set search_path = pg_catalog, pg_temp as $$
  select ops.fh_families_of(current_user::text)
$$
