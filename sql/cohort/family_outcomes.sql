-- Family savings calculator: each attached family's estimated cost (programme unit costs) in
-- the 12 months up to attachment and in the 12 months up to `as_of`.
create table if not exists cohort.family_outcomes (
  family_id text not null,
  programme text not null,
  as_of date not null,
  attached_on date not null,
  cost_before numeric(14, 2) not null,
  cost_latest numeric(14, 2) not null,
  computed_at timestamp not null,
  primary key (programme, as_of, family_id)
);
