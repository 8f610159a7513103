-- Per delivery (ledger file), the share of its new records that link to a person known from
-- another agency and how often each field agrees in those links, judged against the agency's earlier deliveries (pipeline/linkage/monitoring.py).
create table if not exists linked.delivery_match_rates (
  file_id bigint not null,
  agency text not null,
  run_id text not null,              -- the linkage run that first saw the delivery's records
  n_new integer not null,            -- the delivery's records new in that run
  n_matched integer not null,        -- of them, linked to a person with a record from another agency
  match_rate double precision not null,
  n_links integer not null,          -- links from its new records to other agencies' records
  agreement_json text,               -- per compared field: share of those links agreeing exactly
  history_median double precision,   -- the agency's earlier unflagged deliveries: median rate
  history_mad double precision,      -- and median absolute deviation (null: too little history)
  n_history integer not null,
  flagged boolean not null,          -- far below the history: see status, the report, the link DAG
  reason text,
  primary key (file_id, agency)     -- a file is one agency's (test fixtures may mix them)
);
