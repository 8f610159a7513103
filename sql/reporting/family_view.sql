-- reporting.family_view: one family, one view, under the active programme and as-of date.
create or replace view reporting.family_view as
with active as (
  select programme, as_of from cohort.active
),
families as (
  select * from linked.families
),
members as (
  select * from reporting.family_member
),
member_counts as (
  select family_id, count(*) as n_members,
         sum(case when role = 'child' then 1 else 0 end) as n_children
  from members group by family_id
),
family_agencies as (
  select m.family_id, string_agg(distinct e.agency, ',' order by e.agency) as agencies
  from linked.person_family m
  join linked.mention_person p on p.person_id = m.person_id
  join staging.person_mentions e on e.mention_id = p.mention_id
  group by m.family_id
),
evaluation as (
  select r.* from cohort.results r join active a on r.programme = a.programme and r.as_of = a.as_of
),
attachment as (
  select family_id, key_worker, attached_on, closed_on,
         row_number() over (partition by family_id order by attached_on desc, recorded_at desc) as latest
  from cohort.family_attachments
)
select f.family_id, f.address as address_line, f.postcode,
       coalesce(c.n_members, 0) as n_members, coalesce(c.n_children, 0) as n_children,
       fa.agencies, r.criteria, coalesce(r.n_criteria, 0) as n_criteria,
       coalesce(r.eligible, false) as eligible, r.basis,
       coalesce(r.estimated_annual_cost, 0) as estimated_annual_cost, r.priority_rank,
       case when att.closed_on is not null then 'closed'
            when att.family_id is not null then 'attached'
            when r.basis is not null then 'identified' end as status,
       att.key_worker
from families f
left join member_counts c on c.family_id = f.family_id
left join family_agencies fa on fa.family_id = f.family_id
left join evaluation r on r.family_id = f.family_id
left join attachment att on att.family_id = f.family_id and att.latest = 1;
