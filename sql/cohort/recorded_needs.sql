-- Needs recorded by a coordinator or key worker at the whole-family assessment (append-only):
-- each row is the state of one need as recorded at recorded_at; adding, changing and closing
-- add rows, and the latest row of a need_id is its current state. A need counts under every
-- programme with a criterion named by its headline while it is open.
create table if not exists cohort.recorded_needs (
  need_id text not null,            -- N + 10 hex digits, stable across changes
  family_id text not null,
  headline text not null,           -- a criterion code, e.g. early_years
  identified_on date not null,
  evidence text not null,           -- short text from the assessment
  recorded_by text not null,        -- who recorded the need
  outcome text,                     -- achieved | not_achieved, once closed
  closed_on date,
  change text not null,             -- added | changed | closed
  changed_by text not null,         -- who made this row's change
  recorded_at timestamp not null
);
