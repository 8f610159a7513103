-- Families referred into the cohort by a named service, with the reason (local inclusion).
create table if not exists cohort.referrals (
  family_id text not null,
  service text not null,
  reason text not null,
  referral_date date not null
);
