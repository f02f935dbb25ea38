-- Users and their credentials, failed-login counters, and the signing keys.

CREATE TABLE auth.users (
    id uuid PRIMARY KEY,
    username text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    roles text[] NOT NULL DEFAULT '{agent}',
    portals text[] NOT NULL DEFAULT '{agent}',
    disabled boolean NOT NULL DEFAULT false,
    password_hash text NOT NULL,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Usernames are unique whatever their case: "Alice" and "alice" are one person.
CREATE UNIQUE INDEX users_username ON auth.users (lower(username));

-- Failed logins per key ("user:<name>" or "addr:<address>"), shared by every instance.
CREATE TABLE auth.login_failures (
    key text PRIMARY KEY,
    failures integer NOT NULL,
    last_failed_at timestamptz NOT NULL,
    locked_until timestamptz
);

-- Keys generated here (PEM files configured instead are not stored).
CREATE TABLE auth.signing_keys (
    kid text PRIMARY KEY,
    algorithm text NOT NULL,
    private_pem text NOT NULL,
    public_jwk jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz
);
-- At most one current (unretired) key.
CREATE UNIQUE INDEX signing_keys_one_current ON auth.signing_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;
