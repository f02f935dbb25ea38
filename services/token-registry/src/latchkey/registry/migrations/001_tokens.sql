-- Token records, the event outbox, the global domain policy and the audit log.
-- Never the token string: a record describes a token, it cannot be used as one.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE registry.tokens (
    jti uuid PRIMARY KEY,
    user_id text NOT NULL,
    username text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('session', 'access')),
    name text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    channel text NOT NULL DEFAULT '',
    platform text NOT NULL DEFAULT '',
    device text NOT NULL DEFAULT '',
    portals text[] NOT NULL DEFAULT '{}',
    allowed_domains text[] NOT NULL DEFAULT '{}',
    -- True once an admin changed the domains after issue: the claims no longer tell the truth.
    domains_overridden boolean NOT NULL DEFAULT false,
    created_by text NOT NULL DEFAULT '',
    issued_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    last_used_at timestamptz,
    disabled boolean NOT NULL DEFAULT false,
    disabled_at timestamptz,
    disabled_by text,
    revoked_at timestamptz,
    revoked_by text,
    revoke_reason text,
    CHECK (expires_at > issued_at)
);

-- Keyset pagination, newest first, overall and per user.
CREATE INDEX tokens_by_issue ON registry.tokens (issued_at DESC, jti DESC);
CREATE INDEX tokens_by_user ON registry.tokens (user_id, issued_at DESC, jti DESC);
CREATE INDEX tokens_by_username ON registry.tokens (lower(username), issued_at DESC, jti DESC);
CREATE INDEX tokens_by_name ON registry.tokens USING gin (name gin_trgm_ops);
-- The snapshot reads only tokens that carry a restriction.
CREATE INDEX tokens_restricted ON registry.tokens (expires_at)
    WHERE revoked_at IS NOT NULL OR disabled OR domains_overridden;

-- Users whose every token issued before not_before is revoked.
CREATE TABLE registry.subject_revocations (
    user_id text PRIMARY KEY,
    not_before timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_by text NOT NULL,
    reason text NOT NULL
);

-- The outbox. seq is taken from event_counter inside the writing transaction; the row lock
-- on the counter serialises writers, so seq order is commit order.
CREATE TABLE registry.event_counter (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_seq bigint NOT NULL
);
INSERT INTO registry.event_counter (id, last_seq) VALUES (true, 0);

CREATE TABLE registry.events (
    seq bigint PRIMARY KEY,
    type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX events_unpublished ON registry.events (seq) WHERE published_at IS NULL;

CREATE TABLE registry.domain_policy (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    domains text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL DEFAULT ''
);
INSERT INTO registry.domain_policy (id) VALUES (true);

CREATE TABLE registry.audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor_id text NOT NULL,
    actor_name text NOT NULL,
    action text NOT NULL,
    target text NOT NULL DEFAULT '',
    details jsonb NOT NULL DEFAULT '{}'
);
