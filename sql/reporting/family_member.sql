-- reporting.family_member: members of each family, role on the active as-of date.
create or replace view reporting.family_member as
with active as (
  select as_of from cohort.active
),
persons as (
  select * from linked.persons
),
membership as (
  select person_id, family_id from linked.person_family
)
select m.family_id, p.person_id,
       case when p.date_of_birth is not null
                 and p.date_of_birth > cast((select as_of from active) - interval '18 years' as date)
            then 'child' else 'adult' end as role,
       p.first_name, p.last_name, p.date_of_birth, p.sex, p.agencies
from membership m
join persons p on p.person_id = m.person_id;
