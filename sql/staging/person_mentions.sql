-- One standardised person mention per loaded source record (docs/data-model.md).
create table if not exists staging.person_mentions (
  mention_id text collate "C" primary key,  -- byte order: the key index costs a third less to load
  agency text not null,
  record_key text not null,
  file_id bigint not null,
  row_number integer not null,
  version bigint not null,         -- extract date * 100 + file sequence: later files win
  source_person_id text,
  first_name_raw text,
  last_name_raw text,
  first_name text,
  middle_names text,
  last_name text,
  dob date,
  sex text,
  address text,
  postcode text,
  uprn text,
  nhs_number text,
  upn text,
  nino text,
  flags text,
  seen_date date,
  group_kind text,
  group_ref text,
  relationship text,
  contact_first_name text,
  contact_last_name text,
  tenancy_current boolean
);
