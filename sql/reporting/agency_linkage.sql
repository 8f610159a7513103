-- reporting.agency_linkage: per agency and age band, the share of the agency's records linked to
-- a person another agency also knows. Needs no truth: linkage misses fall hardest on some groups
-- (GUILD guidance), and a band whose share sits far below the agency's others is where to look.
-- Age on the latest link run's as-of date, from the person's best date of birth (linked.persons).
create or replace view reporting.agency_linkage as
with run as (
  select max(as_of) as as_of from linked.runs
),
records as (
  select m.agency, position(',' in p.agencies) > 0 as elsewhere,   -- agencies: comma separated
         date_part('year', age(coalesce((select as_of from run), current_date), p.date_of_birth)) as age
  from staging.person_mentions m
  join linked.mention_person mp on mp.mention_id = m.mention_id
  join linked.persons p on p.person_id = mp.person_id
),
banded as (
  select agency, elsewhere,
         case when age is null then null
              when age < 5 then 0
              when age < 11 then 5
              when age < 16 then 11
              when age < 18 then 16
              when age < 25 then 18
              when age < 45 then 25
              when age < 65 then 45
              else 65 end as age_from
  from records
)
select agency,
       case when age_from is null then 'unknown'
            when age_from = 0 then '0-4'
            when age_from = 5 then '5-10'
            when age_from = 11 then '11-15'
            when age_from = 16 then '16-17'
            when age_from = 18 then '18-24'
            when age_from = 25 then '25-44'
            when age_from = 45 then '45-64'
            else '65+' end as age_band,
       age_from,                                     -- to order the bands; null: no date of birth
       count(*) as n_records,
       sum(case when elsewhere then 1 else 0 end) as n_linked_elsewhere,
       avg(case when elsewhere then 1.0 else 0.0 end) as share_linked_elsewhere
from banded
group by agency, age_from;
