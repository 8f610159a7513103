-- One canonical event per loaded source record (docs/data-model.md).
create table if not exists staging.events (
  mention_id text collate "C" primary key,  -- byte order: the key index costs a third less to load
  agency text not null,
  record_key text not null,
  file_id bigint not null,
  version bigint not null,
  event_type text not null,
  event_date date,
  start_date date,
  end_date date,
  role text,
  domestic_abuse boolean,
  term text,
  sessions_possible integer,
  sessions_authorised_absent integer,
  sessions_unauthorised_absent integer,
  suspensions integer,
  permanent_exclusion boolean,
  alternative_provision boolean,
  rent_arrears numeric(12, 2),
  asb_complaint_date date,
  notice_seeking_possession boolean,
  detail text
);
