-- Revocations of every token of a user that a change to the user calls for (disabled, a new
-- password, fewer rights), written in the same transaction as the change and delivered to the
-- registry after it commits: no lock or connection is held across the call, and a registry
-- that cannot be reached gets it later, retried until it takes it.
CREATE TABLE auth.pending_revocations (
    id bigserial PRIMARY KEY,
    user_id uuid NOT NULL,
    reason text NOT NULL,
    actor_id text NOT NULL,
    actor_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempt_after timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX pending_revocations_due ON auth.pending_revocations (attempt_after);
