-- Every attachment row against each family its case now covers (the casework view of
-- cohort.attachments: read this, not family_id, which may have retired).
create or replace view cohort.family_attachments as
select c.family_id, a.case_id, a.family_id as attached_family_id, a.key_worker, a.attached_on,
       a.closed_on, a.recorded_at
from cohort.attachments a
join cohort.case_families c on c.case_id = a.case_id
