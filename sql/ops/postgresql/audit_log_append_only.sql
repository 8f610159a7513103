-- The audit log is append-only: no row is ever updated or deleted, whoever asks.
create or replace trigger audit_log_append_only
before update or delete on ops.audit_log
for each row execute function ops.audit_guard()
