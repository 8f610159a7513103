-- reporting.alert: alerts raised for key workers, with their e-mail delivery and whether the
-- event has been corrected since (a later version of the same record arrived).
create or replace view reporting.alert as
with alerts as (
  select * from cohort.alerts
),
sent as (
  select alert_id, min(attempted_at) as emailed_at, min(recipient) as emailed_to
  from cohort.alert_deliveries
  where channel = 'email' and status = 'sent'
  group by alert_id
),
events as (
  select mention_id, version from staging.events
)
select a.alert_id, a.raised_at, a.key_worker, a.family_id, a.person_id, a.kind, a.agency,
       a.record_key, a.event_type, a.event_date, a.detail,
       coalesce(e.version > a.version, false) as corrected,
       s.emailed_to, s.emailed_at
from alerts a
left join sent s on s.alert_id = a.alert_id
left join events e on e.mention_id = a.mention_id;
