-- Rows of loaded files that are no longer (or never were) in raw.<agency>: skipped at ingest
-- because the record was erased ('tombstoned'), removed on request ('erased') or past the
-- retention period ('retention'). Row numbers only, so file counts still reconcile:
-- rows_sent = rows in raw.<agency> + rows here.
create table if not exists ops.removed_rows (
  file_id bigint not null,
  row_number integer not null,
  agency text not null,
  cause text not null,             -- tombstoned | erased | retention
  removed_at timestamp not null,
  primary key (file_id, row_number)
);
