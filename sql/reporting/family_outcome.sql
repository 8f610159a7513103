-- reporting.family_outcome: each attached family's estimated cost (programme unit costs) in
-- the 12 months up to its first attachment and in the 12 months up to as_of, per programme.
create or replace view reporting.family_outcome as
with outcomes as (
  select * from cohort.family_outcomes
),
attachment as (
  select family_id, key_worker, closed_on,
         row_number() over (partition by family_id order by attached_on desc, recorded_at desc) as latest
  from cohort.family_attachments
)
select o.family_id, o.programme, o.as_of, o.attached_on, a.key_worker,
       case when a.closed_on is not null then 'closed' else 'attached' end as status, a.closed_on,
       o.cost_before, o.cost_latest, o.cost_before - o.cost_latest as saving, o.computed_at
from outcomes o
left join attachment a on a.family_id = o.family_id and a.latest = 1;
