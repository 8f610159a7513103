-- A family's attachment history by family (the family view, the key worker's access check).
create index if not exists attachments_by_family on cohort.attachments (family_id);
