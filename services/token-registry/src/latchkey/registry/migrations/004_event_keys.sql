-- The keys the registry signs what it publishes on the events exchange with (Ed25519), so
-- instances act on nothing anyone else published. The private half is sealed with
-- LATCHKEY_KEY_ENCRYPTION_KEY; the newest key signs.
CREATE TABLE registry.event_keys (
    kid text PRIMARY KEY,
    private_key text NOT NULL,
    public_key text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
