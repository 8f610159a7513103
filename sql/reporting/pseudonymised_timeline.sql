-- reporting.pseudonymised_timeline: every member's events for analysts: opaque refs, agency,
-- event type and month; no record key or free-text detail.
create or replace view reporting.pseudonymised_timeline as
with timeline as (
  select * from reporting.family_timeline
)
select pf.pseudo_id as family_ref, pp.pseudo_id as person_ref, t.agency, t.event_type,
       cast(date_trunc('month', t.event_date) as date) as event_month
from timeline t
join ops.pseudonyms pp on pp.kind = 'person' and pp.real_id = t.person_id
left join ops.pseudonyms pf on pf.kind = 'family' and pf.real_id = t.family_id;
