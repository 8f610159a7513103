-- reporting.family_evidence: one row per event supporting a criterion a family meets.
create or replace view reporting.family_evidence as
select family_id, programme, as_of, criterion, person_id, agency, record_key, event_date, detail
from cohort.evidence;
