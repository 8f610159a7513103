-- A family's evidence by family (the family page's criteria with their evidence).
create index if not exists evidence_by_family on cohort.evidence (family_id);
