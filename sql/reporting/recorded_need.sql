-- reporting.recorded_need: every need recorded for a family, as it now stands (open ones have
-- no outcome); its history is in cohort.recorded_needs.
create or replace view reporting.recorded_need as
select need_id, family_id, headline, identified_on, evidence, recorded_by, outcome, closed_on,
       recorded_at as updated_at
from (
  select n.*, row_number() over (partition by need_id order by recorded_at desc) as latest
  from cohort.recorded_needs n
) n where latest = 1;
