-- reporting.record_link: one row per loaded source record (shared/spec/reporting.md).
create or replace view reporting.record_link as
with mentions as (
  select mention_id, agency, record_key from staging.person_mentions
),
linked_person as (
  select mention_id, person_id, match_weight from linked.mention_person
),
family as (
  select person_id, family_id from linked.person_family
)
select m.agency, m.record_key, p.person_id, f.family_id, p.match_weight
from mentions m
left join linked_person p on p.mention_id = m.mention_id
left join family f on f.person_id = p.person_id;
