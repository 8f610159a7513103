-- reporting.pseudonymised_savings: the savings calculator's figures for managers, aggregated per
-- programme, as-of date and claim window of first attachment (YYYY-H1/H2): families, their cost
-- in the 12 months before attachment and in the latest 12 months; no family id or ref at all.
create or replace view reporting.pseudonymised_savings as
with outcomes as (
  select programme, as_of, cost_before, cost_latest, computed_at,
         cast(cast(extract(year from attached_on) as integer) as varchar)
           || case when extract(month from attached_on) <= 6 then '-H1' else '-H2' end as attached_window
  from cohort.family_outcomes
)
select programme, as_of, attached_window, count(*) as families, sum(cost_before) as cost_before,
       sum(cost_latest) as cost_latest, sum(cost_before) - sum(cost_latest) as saving,
       max(computed_at) as computed_at
from outcomes
group by programme, as_of, attached_window;
