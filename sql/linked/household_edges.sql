-- Why persons were grouped into a family (shared tenancy, address, incident, named carer).
create table if not exists linked.household_edges (
  person_a text not null,
  person_b text not null,
  reason text not null,
  evidence text,
  family_id text not null
);
