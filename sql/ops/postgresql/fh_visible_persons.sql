-- Row-level security: the members of the families the role now querying may see.
create or replace function ops.fh_visible_persons() returns setof text
language sql stable rows 150 as $$
  select * from ops.fh_persons_of(current_user::text collate "default")
$$
