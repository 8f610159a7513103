-- reporting.cohort: one row per family per programme per as-of date evaluated.
create or replace view reporting.cohort as
select family_id, programme, as_of, criteria, n_criteria, eligible, basis, priority_rank,
       estimated_annual_cost
from cohort.results;
