-- Every web sign-in attempt: throttling (failures per client address) and lockout (failures
-- per account since its last success) are counted from here.
create table if not exists ops.web_login_attempts (
  user_name text not null,
  client text,                     -- the client address
  attempted_at timestamp not null,
  ok boolean not null              -- true: signed in, or the password was reset
);
