-- Records erased on request: ingest skips a re-sent row whose (agency, record key) is here, so
-- an erased person never comes back. Only a SHA-256 of 'agency|record_key' is kept.
create table if not exists ops.tombstones (
  agency text not null,
  key_hash text not null,
  erasure_id text not null,        -- ties the tombstone to its ops.audit_log entry
  erased_at timestamp not null,
  primary key (agency, key_hash)
);
