-- Server-side web sessions: the cookie holds a random token, this table only its sha256, so a
-- copy of the table signs nobody in. Signing out, disabling the account and the idle timeout
-- end a session here, at once, whatever the browser keeps.
create table if not exists ops.web_sessions (
  token_hash text primary key,
  user_name text not null,
  csrf_token text not null,        -- the token every form of this session must post back
  created_at timestamp not null,
  last_seen timestamp not null,
  ended_at timestamp
);
