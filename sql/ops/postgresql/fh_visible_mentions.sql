-- Row-level security: the source records the role now querying may see.
create or replace function ops.fh_visible_mentions() returns setof text
language sql stable rows 500 as $$
  select * from ops.fh_mentions_of(current_user::text collate "default")
$$
