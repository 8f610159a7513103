-- An evaluation's families in priority order (the cohort page's first 50).
create index if not exists results_by_priority on cohort.results (programme, as_of, priority_rank);
