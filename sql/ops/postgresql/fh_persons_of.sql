-- Row-level security: the members of the families `for_login` may see (ops.fh_families_of).
-- "= any(array(...))" makes an index lookup of those few families, whatever the plan of a join
-- would guess inside a function.
create or replace function ops.fh_persons_of(for_login text) returns setof text
language sql stable rows 150 security definer set search_path = pg_catalog, pg_temp as $$
  select person_id from linked.person_family
  where family_id = any(array(select * from ops.fh_families_of(for_login)))
$$
