-- An evaluation's evidence (programme, as-of date): re-evaluating a date replaces its rows, and
-- without this each month's delete reads every evaluation kept since the first (years of them).
create index if not exists evidence_by_evaluation on cohort.evidence (programme, as_of);
