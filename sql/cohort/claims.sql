-- Payment-by-results claims. The primary key makes a second claim of the same payment for the
-- same case and programme impossible, whatever the window and whatever ids its family had.
create table if not exists cohort.claims (
  claim_id text not null unique,    -- <programme>:<window>:<case_id>:<payment>
  programme text not null,
  claim_window text not null,       -- e.g. 2026-H2
  claim_date date not null,
  family_id text not null,          -- the families the case covered when claimed, comma separated
  payment text not null,            -- attachment | results
  result text,                      -- the results route met (results claims only)
  programme_year integer not null,
  attached_on date not null,
  amount numeric(12, 2) not null,   -- rounded to the penny per claim
  evidence text not null,           -- summary; one row per item in cohort.claim_evidence
  made_at timestamp not null,
  case_id text not null,            -- the case claimed (cohort.attachments.case_id)
  primary key (programme, case_id, payment)
);
