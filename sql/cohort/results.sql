-- One row per family per programme per as-of date evaluated (kept side by side).
create table if not exists cohort.results (
  family_id text not null,
  programme text not null,
  as_of date not null,
  criteria text,
  n_criteria integer not null,
  eligible boolean not null,
  basis text,
  priority_rank integer,
  estimated_annual_cost numeric(14, 2) not null,
  primary key (programme, as_of, family_id)
);
