-- Accepted and uncertain scored pairs of the latest run, with per-comparison levels and
-- log2 Bayes factors (`explanation`, JSON) so any link can be shown as a waterfall.
create table if not exists linked.record_links (
  mention_id_l text collate "C" not null,
  mention_id_r text collate "C" not null,
  match_weight double precision not null,
  match_probability double precision,
  blocking_pass text,
  status text not null,              -- accepted | review | dropped
  explanation text,
  run_id text not null,
  primary key (mention_id_l, mention_id_r)
);
