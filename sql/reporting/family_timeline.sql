-- reporting.family_timeline: every event of every member, in date order (plus family_id).
create or replace view reporting.family_timeline as
with events as (
  select mention_id, agency, record_key, event_type, event_date, detail from staging.events
),
linked_person as (
  select mention_id, person_id from linked.mention_person
),
family as (
  select person_id, family_id from linked.person_family
)
select e.agency, e.record_key, p.person_id, e.event_type, e.event_date, e.detail, f.family_id
from events e
join linked_person p on p.mention_id = e.mention_id
left join family f on f.person_id = p.person_id;
