"""Every SQL statement of the auth service, as named constants with $n placeholders."""

USER_COLUMNS = """
    id, username, display_name, roles, portals, disabled, password_changed_at, created_at,
    updated_at"""

COUNT_USERS = "SELECT count(*) FROM auth.users"

BOOTSTRAP_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('latchkey.auth.bootstrap', 0))"

INSERT_USER = f"""
INSERT INTO auth.users (id, username, display_name, roles, portals, password_hash)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING
RETURNING {USER_COLUMNS}"""

SELECT_USER = f"SELECT {USER_COLUMNS} FROM auth.users WHERE id = $1"

SELECT_USER_FOR_UPDATE = f"SELECT {USER_COLUMNS} FROM auth.users WHERE id = $1 FOR UPDATE"

# $1 is the canonical (ASCII lower-case) username: usernames are ASCII, so PostgreSQL's
# lower() and Python's agree on every one of them.
SELECT_CREDENTIALS = f"""
SELECT {USER_COLUMNS}, password_hash FROM auth.users WHERE lower(username) = $1"""

LIST_USERS = f"""
SELECT {USER_COLUMNS} FROM auth.users
WHERE ($1::text IS NULL OR lower(username) > lower($1))
ORDER BY lower(username) LIMIT $2"""

UPDATE_USER = f"""
UPDATE auth.users
SET display_name = $2, roles = $3, portals = $4, disabled = $5, updated_at = now()
WHERE id = $1
RETURNING {USER_COLUMNS}"""

UPDATE_PASSWORD = f"""
UPDATE auth.users
SET password_hash = $2, password_changed_at = now(), updated_at = now()
WHERE id = $1
RETURNING {USER_COLUMNS}"""

# A rehash on login with new parameters: only if nobody changed the password meanwhile.
REHASH_PASSWORD = "UPDATE auth.users SET password_hash = $3 WHERE id = $1 AND password_hash = $2"

# --- failed logins ----------------------------------------------------------------------

SELECT_LOCKS = """
SELECT max(locked_until) FROM auth.login_failures
WHERE key = ANY($1::text[]) AND locked_until > now()"""

# Count a failure; a window without failures starts the count over. Past the threshold the key
# is locked for base * 2^(failures - threshold) seconds, capped.
RECORD_FAILURE = """
INSERT INTO auth.login_failures AS f (key, failures, last_failed_at, locked_until)
VALUES ($1, 1, now(), CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $3) END)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN f.last_failed_at < now() - make_interval(secs => $5) THEN 1
                    ELSE f.failures + 1 END,
    last_failed_at = now(),
    locked_until = CASE
        WHEN f.last_failed_at < now() - make_interval(secs => $5) THEN
            CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $3) END
        WHEN f.failures + 1 >= $2 THEN
            now() + make_interval(secs => LEAST($4, $3 * power(2, f.failures + 1 - $2)))
        ELSE f.locked_until END
RETURNING failures, locked_until"""

CLEAR_FAILURES = "DELETE FROM auth.login_failures WHERE key = $1"

# --- signing keys -------------------------------------------------------------------------

KEY_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('latchkey.auth.appkeys', 0))"

SELECT_CURRENT_KEY = """
SELECT kid, algorithm, private_pem FROM auth.signing_keys WHERE retired_at IS NULL"""

# Published: the current key, and retired keys whose tokens may still be alive.
SELECT_PUBLISHED_KEYS = """
SELECT kid, public_jwk, retired_at FROM auth.signing_keys
WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
ORDER BY created_at DESC"""

RETIRE_CURRENT_KEY = "UPDATE auth.signing_keys SET retired_at = now() WHERE retired_at IS NULL"

INSERT_KEY = """
INSERT INTO auth.signing_keys (kid, algorithm, private_pem, public_jwk) VALUES ($1, $2, $3, $4)"""

SELECT_KEYS_IN_CLEAR = """
SELECT kid, private_pem FROM auth.signing_keys WHERE private_pem NOT LIKE 'sealed:%'"""

RESEAL_KEY = "UPDATE auth.signing_keys SET private_pem = $2 WHERE kid = $1"

# --- what a sign-in checks again once its token is recorded --------------------------------

SELECT_LOGIN_STATE = "SELECT disabled, password_changed_at FROM auth.users WHERE id = $1"

# --- revocations owed to the registry (written with the change that calls for them) --------

QUEUE_REVOCATION = """
INSERT INTO auth.pending_revocations (user_id, reason, actor_id, actor_name)
VALUES ($1, $2, $3, $4) RETURNING id"""

# Claim one due revocation (the given one, or the oldest) for `$2` seconds: another instance
# skips it meanwhile, and it is due again if this one never reports back.
CLAIM_REVOCATION = """
UPDATE auth.pending_revocations
SET attempt_after = now() + make_interval(secs => $2), attempts = attempts + 1
WHERE id = (
    SELECT id FROM auth.pending_revocations
    WHERE attempt_after <= now() AND ($1::bigint IS NULL OR id = $1)
    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, user_id, reason, actor_id, actor_name, attempts"""

RELEASE_REVOCATION = "UPDATE auth.pending_revocations SET attempt_after = now() WHERE id = $1"

DELETE_REVOCATION = "DELETE FROM auth.pending_revocations WHERE id = $1"

COUNT_PENDING_REVOCATIONS = "SELECT count(*) FROM auth.pending_revocations"
