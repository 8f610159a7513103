-- The evaluation the family view shows: the active programme and its as-of date (one row).
create table if not exists cohort.active (
  programme text not null,
  as_of date not null,
  set_at timestamp not null
);
