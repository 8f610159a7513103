-- The fingerprint (an HMAC of a constant, not the key) of the key ops.pseudonyms was made
-- with: a changed key re-makes every pseudonym.
create table if not exists ops.pseudonym_key (
  fingerprint text not null,
  set_at timestamp not null
);
