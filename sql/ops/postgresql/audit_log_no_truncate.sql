-- ... nor emptied by truncate.
create or replace trigger audit_log_no_truncate
before truncate on ops.audit_log
for each statement execute function ops.audit_guard()
