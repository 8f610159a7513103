-- Row-level security: the source records the role now querying may see.
create or replace function ops.fh_visible_mentions() returns setof text
language sql stable set search_path = pg_catalog, pg_temp as $$
  select ops.fh_mentions_of(current_user::text)
$$
