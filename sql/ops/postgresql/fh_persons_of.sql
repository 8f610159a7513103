-- Row-level security: the members of the families `for_login` may see (ops.fh_families_of).
create or replace function ops.fh_persons_of(for_login text) returns setof text
language sql stable rows 150 security definer
set search_path = pg_catalog, pg_temp as $$
  select m.person_id
  from ops.fh_families_of(for_login) f(family_id)
  join linked.person_family m on m.family_id = f.family_id
$$
