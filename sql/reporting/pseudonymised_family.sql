-- reporting.pseudonymised_family: the family view for analysts: an opaque family ref, the
-- postcode district instead of the address, no key worker; counts, criteria and cost as in
-- reporting.family_view.
create or replace view reporting.pseudonymised_family as
with families as (
  select * from reporting.family_view
)
select p.pseudo_id as family_ref, split_part(f.postcode, ' ', 1) as postcode_district,
       f.n_members, f.n_children, f.agencies, f.criteria, f.n_criteria, f.eligible, f.basis,
       f.estimated_annual_cost, f.priority_rank, f.status
from families f
join ops.pseudonyms p on p.kind = 'family' and p.real_id = f.family_id;
