-- A family's members by family (the family page, and row-level security's visible persons).
create index if not exists person_family_by_family on linked.person_family (family_id);
