-- Casework reads attachments by case (key-worker row security, cases following lineage).
create index if not exists attachments_by_case on cohort.attachments (case_id);
