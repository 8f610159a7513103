-- Row-level security: the source records of the persons `for_login` may see (an index lookup,
-- as in ops.fh_persons_of).
create or replace function ops.fh_mentions_of(for_login text) returns setof text
language sql stable rows 500 security definer set search_path = pg_catalog, pg_temp as $$
  select mention_id from linked.mention_person
  where person_id = any(array(select * from ops.fh_persons_of(for_login)))
$$
