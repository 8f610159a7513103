-- Rows held back from an otherwise good file, with their reasons. The row itself is in
-- raw.<agency> (file_id, row_number); `familyhub reprocess` re-checks held rows and
-- releases those that now pass.
create table if not exists ops.held_rows (
  file_id bigint not null,
  row_number integer not null,
  agency text not null,
  record_key text,
  reasons text not null,
  status text not null,            -- held | released
  released_at timestamp,
  primary key (file_id, row_number)
);
