-- Row-level security: true when the current role reads FamilyHub rows in full (the pipeline,
-- admins, coordinators, and analysts through the pseudonymised views); key workers get false
-- and see only their attached families. Invoker rights, so current_user is the one querying,
-- also through a view.
create or replace function ops.fh_full_access() returns boolean
language sql stable set search_path = pg_catalog, pg_temp as $$
  select pg_has_role(current_user, 'familyhub_owner', 'MEMBER')
      or pg_has_role(current_user, 'familyhub_loader', 'MEMBER')
      or pg_has_role(current_user, 'familyhub_admin', 'MEMBER')
      or pg_has_role(current_user, 'familyhub_coordinator', 'MEMBER')
      or pg_has_role(current_user, 'familyhub_analyst', 'MEMBER')
$$
