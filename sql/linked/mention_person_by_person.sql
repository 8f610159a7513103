-- A person's records by person (the family page's timeline, and row-level security's visible records).
create index if not exists mention_person_by_person on linked.mention_person (person_id);
