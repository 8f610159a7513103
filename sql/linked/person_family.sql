-- Which family (household) each person belongs to, with the address they were placed at.
create table if not exists linked.person_family (
  person_id text primary key,
  family_id text not null,
  address text,
  postcode text,
  located_on date
);
