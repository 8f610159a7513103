-- reporting.pseudonymised_member: family members for analysts, without names, dates of birth
-- or real ids: opaque refs (HMAC of the ids, ops.pseudonyms) and an age band on the active
-- as-of date. Read by the analyst role (sql files run in name order: after family_member).
create or replace view reporting.pseudonymised_member as
with active as (
  select max(as_of) as as_of from cohort.active
),
members as (
  select * from reporting.family_member
),
ages as (
  select m.*, date_part('year', age(coalesce((select as_of from active), current_date),
                                    m.date_of_birth)) as age
  from members m
)
select pf.pseudo_id as family_ref, pp.pseudo_id as person_ref, a.role,
       case when a.age is null then 'unknown'
            when a.age < 5 then '0-4'
            when a.age < 11 then '5-10'
            when a.age < 16 then '11-15'
            when a.age < 18 then '16-17'
            when a.age < 25 then '18-24'
            when a.age < 35 then '25-34'
            when a.age < 50 then '35-49'
            when a.age < 65 then '50-64'
            else '65+' end as age_band,
       a.sex, a.agencies
from ages a
join ops.pseudonyms pf on pf.kind = 'family' and pf.real_id = a.family_id
join ops.pseudonyms pp on pp.kind = 'person' and pp.real_id = a.person_id;
