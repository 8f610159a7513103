-- Row-level security: the families whose latest attachment (through its case, so a merged or
-- split family stays visible in every part) is open and to the key worker
-- logged in (ops.key_worker_logins maps the login to cohort.attachments.key_worker).
create or replace function ops.fh_visible_families() returns setof text
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select a.family_id
  from (select family_id, key_worker, closed_on,
               row_number() over (partition by case_id, family_id
                                  order by attached_on desc, recorded_at desc) as latest
        from cohort.family_attachments) a
  join ops.key_worker_logins k on k.key_worker = a.key_worker
  where a.latest = 1 and a.closed_on is null and k.login = session_user
$$
