-- reporting.pseudonymised_cohort: reporting.cohort with an opaque family ref.
create or replace view reporting.pseudonymised_cohort as
with cohort as (
  select * from reporting.cohort
)
select p.pseudo_id as family_ref, c.programme, c.as_of, c.criteria, c.n_criteria, c.eligible,
       c.basis, c.priority_rank, c.estimated_annual_cost
from cohort c
join ops.pseudonyms p on p.kind = 'family' and p.real_id = c.family_id;
