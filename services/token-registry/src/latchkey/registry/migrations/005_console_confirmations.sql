-- When a console admin last confirmed their password ("confirm access", as GitHub's sudo
-- mode), by the token of their session: generating a token or revoking a user's tokens asks
-- again once it is older than LATCHKEY_CONSOLE_CONFIRM_SECONDS.
CREATE TABLE registry.console_confirmations (
    jti uuid PRIMARY KEY,
    confirmed_until timestamptz NOT NULL
);
CREATE INDEX console_confirmations_expiry ON registry.console_confirmations (confirmed_until);

-- A jti an admin revoked that no token record names (yet): kept as a record of kind
-- 'unknown', so the revocation reaches every instance and a token signed with that jti can
-- never be recorded.
ALTER TABLE registry.tokens DROP CONSTRAINT tokens_kind_check;
ALTER TABLE registry.tokens ADD CONSTRAINT tokens_kind_check
    CHECK (kind IN ('session', 'access', 'unknown'));
