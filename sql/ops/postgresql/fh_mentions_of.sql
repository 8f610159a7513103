-- Row-level security: the source records of the persons `for_login` may see.
create or replace function ops.fh_mentions_of(for_login text) returns setof text
language sql stable rows 500 security definer set search_path = pg_catalog, pg_temp as $$
  select r.mention_id
  from ops.fh_persons_of(for_login) p(person_id)
  join linked.mention_person r on r.person_id = p.person_id
$$
