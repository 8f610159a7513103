-- Every attempt to deliver an alert (append-only); an alert with a 'sent' row is never sent again.
create table if not exists cohort.alert_deliveries (
  alert_id text not null,
  channel text not null,            -- email
  recipient text not null,
  status text not null,             -- sent | failed
  attempted_at timestamp not null,
  error text
);
