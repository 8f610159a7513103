-- Alerts a web user has marked as seen (the key worker's "unread alerts first").
create table if not exists ops.web_alert_reads (
  alert_id text not null,
  reader text not null,
  read_at timestamp not null,
  primary key (alert_id, reader)
);
