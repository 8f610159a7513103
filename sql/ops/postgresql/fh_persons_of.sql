-- Row-level security: the members of the families `for_login` may see (ops.fh_families_of).
create or replace function ops.fh_persons_of(for_login text) returns setof text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select person_id from linked.person_family
  where family_id in (select ops.fh_families_of(for_login))
$$
