-- Row-level security: the families whose latest attachment is open and to the key worker of
-- `for_login` (ops.key_worker_logins maps the login to cohort.attachments.key_worker). Only a
-- login's own session, or a session allowed to act as it (the web server, SET ROLE), gets
-- its families: a key worker asking for another login's gets none. Index probes only (by
-- key worker, then by family), so it costs the same at any cohort size.
create or replace function ops.fh_families_of(for_login text) returns setof text
language sql stable rows 50 security definer
set search_path = pg_catalog, pg_temp as $$
  select a.family_id
  from ops.key_worker_logins k
  join cohort.attachments a on a.key_worker = k.key_worker
  where k.login = for_login and a.closed_on is null
    and pg_has_role(session_user, for_login, 'MEMBER')
    and not exists (select 1 from cohort.attachments b
                    where b.family_id = a.family_id
                      and (b.attached_on > a.attached_on
                           or (b.attached_on = a.attached_on and b.recorded_at > a.recorded_at)))
$$
