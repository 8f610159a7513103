-- Which person each loaded mention belongs to (stable person_id), and the evidence.
create table if not exists linked.mention_person (
  mention_id text collate "C" primary key,
  person_id text not null,
  match_weight double precision,     -- strongest accepted link; null when deterministic/alone
  run_id text not null
);
