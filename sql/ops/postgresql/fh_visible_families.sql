-- Row-level security: the families the role now querying may see. Invoker rights (and inlined
-- into the query: no SET clause), so current_user is the key worker's login also when the web
-- server acts as it (SET ROLE). The login is passed in the default collation (current_user is a
-- name, collated "C", and SQL functions would compare ids in that collation, past the indexes).
create or replace function ops.fh_visible_families() returns setof text
language sql stable rows 50 as $$
  select * from ops.fh_families_of(current_user::text collate "default")
$$
