-- Every statement loading staging.events queues its rows for the alert pass (ops.alert_queue_fill).
create or replace trigger events_alert_queue
after insert on staging.events referencing new table as arrived
for each statement execute function ops.alert_queue_fill()
