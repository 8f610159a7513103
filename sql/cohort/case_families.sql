-- The families each case now covers. One row per (case, family): a case whose family merged
-- follows the survivor; a case whose family split covers every part until a coordinator
-- decides its review item (cohort.case_reviews). Written by the link stage in its transaction.
create table if not exists cohort.case_families (
  case_id text not null,
  family_id text not null,
  since_run text,                   -- the link run that brought the family in (null: attached)
  primary key (case_id, family_id)
);
