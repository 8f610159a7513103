-- Operational e-mails (pipeline/notify.py): an overdue extract to the data team, a refused file
-- to its agency's contact. One row per attempt; a notice is sent once per (kind, subject_key,
-- recipient) and a failed attempt is retried by the next pass.
create table if not exists ops.notices (
  kind text not null,               -- overdue | refusal
  subject_key text not null,        -- overdue: agency and expected-by date; refusal: ledger file id
  recipient text not null,
  subject text not null,
  status text not null,             -- sent | failed
  attempted_at timestamp not null,
  error text
);
