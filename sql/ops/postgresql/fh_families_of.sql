-- Row-level security: the families the key worker of `for_login` works with: every family the
-- case of their open attachment covers (cohort.case_families, so a merged or split family stays
-- visible in every part until the coordinator decides); ops.key_worker_logins maps the login to
-- cohort.attachments.key_worker. Only a login's own session, or a session allowed to act as it
-- (the web server, SET ROLE), gets its families: a key worker asking for another login's gets
-- none. Index probes only (by key worker, then by case), so it costs the same at any cohort size.
create or replace function ops.fh_families_of(for_login text) returns setof text
language sql stable rows 50 security definer
set search_path = pg_catalog, pg_temp as $$
  select c.family_id
  from ops.key_worker_logins k
  join cohort.attachments a on a.key_worker = k.key_worker
  join cohort.case_families c on c.case_id = a.case_id
  where k.login = for_login and a.closed_on is null
    and pg_has_role(session_user, for_login, 'MEMBER')
    and not exists (select 1 from cohort.attachments b
                    where b.case_id = a.case_id
                      and (b.attached_on > a.attached_on
                           or (b.attached_on = a.attached_on and b.recorded_at > a.recorded_at)))
$$
