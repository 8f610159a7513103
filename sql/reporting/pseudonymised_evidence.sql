-- reporting.pseudonymised_evidence: why families meet criteria, for analysts: opaque refs,
-- the event's month, no record key or free-text detail.
create or replace view reporting.pseudonymised_evidence as
with evidence as (
  select * from reporting.family_evidence
)
select pf.pseudo_id as family_ref, e.programme, e.as_of, e.criterion, pp.pseudo_id as person_ref,
       e.agency, cast(date_trunc('month', e.event_date) as date) as event_month
from evidence e
join ops.pseudonyms pf on pf.kind = 'family' and pf.real_id = e.family_id
left join ops.pseudonyms pp on pp.kind = 'person' and pp.real_id = e.person_id;
