-- A key worker's attachments by key worker (row-level security's visible families).
create index if not exists attachments_by_key_worker on cohort.attachments (key_worker);
