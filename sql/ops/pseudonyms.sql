-- Opaque ids for the pseudonymised analyst views: HMAC-SHA256 of each person_id and family_id
-- under the secret FAMILYHUB_PSEUDONYM_KEY (never stored). Refreshed by `familyhub db
-- pseudonymise` (and `db grant`); analysts cannot read this table, only the views.
create table if not exists ops.pseudonyms (
  kind text not null,              -- person | family
  real_id text not null,
  pseudo_id text not null,
  primary key (kind, real_id)
);
