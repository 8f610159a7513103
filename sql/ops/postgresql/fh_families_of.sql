-- Row-level security: the families whose latest attachment is open and to the key worker of
-- `for_login` (ops.key_worker_logins maps the login to cohort.attachments.key_worker). Only a
-- login's own session, or a session allowed to act as it (the web server, SET ROLE), gets
-- its families: a key worker asking for another login's gets none.
create or replace function ops.fh_families_of(for_login text) returns setof text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select a.family_id
  from (select family_id, key_worker, closed_on,
               row_number() over (partition by family_id
                                  order by attached_on desc, recorded_at desc) as latest
        from cohort.attachments) a
  join ops.key_worker_logins k on k.key_worker = a.key_worker
  where a.latest = 1 and a.closed_on is null and k.login = for_login
    and pg_has_role(session_user, for_login, 'MEMBER')
$$
