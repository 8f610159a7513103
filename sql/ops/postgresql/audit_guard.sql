-- Refuses every change to ops.audit_log except an insert (fired by the two audit_log triggers).
create or replace function ops.audit_guard() returns trigger
language plpgsql as $$
begin
  raise exception 'ops.audit_log is append-only: % refused', tg_op
    using errcode = 'insufficient_privilege';
end
$$
