-- reporting.claim: payment-by-results claims, one row per payment claimed for a family
-- (attachment fee or results), with the window, the amount and a summary of the evidence.
create or replace view reporting.claim as
select claim_id, programme, claim_window, claim_date, family_id, payment, result, programme_year,
       attached_on, amount, evidence, made_at
from cohort.claims;
