-- The file ledger: every file the hub has seen, loaded or refused, with its counts.
-- A re-sent file (same sha256) is recognised here and changes nothing. Bytes refused under one
-- name (say a misnamed file) may still arrive properly named, so uniqueness is per (sha256, name).
create sequence if not exists ops.file_id_seq;
create table if not exists ops.files (
  file_id bigint primary key default nextval('ops.file_id_seq'),
  agency text not null,
  file_name text not null,
  extract_date date,
  sequence integer,
  sha256 text not null,
  size_bytes bigint not null,
  mtime_ns bigint,                 -- modification time (ns) when recorded: an unchanged file is not hashed again
  status text not null,            -- loaded | refused
  rows_sent integer,
  rows_loaded integer not null default 0,
  rows_held integer not null default 0,
  reason text,                     -- why a file was refused
  report_path text,                -- quarantine report (refused files)
  received_at timestamp not null,
  loaded_at timestamp,
  unique (sha256, file_name)
);
