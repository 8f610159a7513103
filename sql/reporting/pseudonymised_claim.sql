-- reporting.pseudonymised_claim: payment-by-results claims for managers: an opaque family
-- ref, the payment, result and amount; no evidence text (it names records and dates).
create or replace view reporting.pseudonymised_claim as
with claims as (
  select * from reporting.claim
)
select p.pseudo_id as family_ref, c.programme, c.claim_window, c.claim_date, c.payment, c.result,
       c.programme_year, c.amount, c.made_at
from claims c
join ops.pseudonyms p on p.kind = 'family' and p.real_id = c.family_id;
