"""Every SQL statement of the registry, as named constants with $n placeholders."""

TOKEN_COLUMNS = """
    jti, user_id, username, kind, name, description, channel, platform, device, portals,
    allowed_domains, created_by, issued_at, expires_at, last_used_at, disabled, disabled_at,
    disabled_by, revoked_at, revoked_by, revoke_reason,
    CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
         WHEN expires_at <= now() THEN 'expired'
         WHEN disabled THEN 'disabled'
         ELSE 'active' END AS status"""

INSERT_TOKEN = f"""
INSERT INTO registry.tokens (
    jti, user_id, username, kind, name, description, channel, platform, device, portals,
    allowed_domains, created_by, issued_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (jti) DO NOTHING
RETURNING {TOKEN_COLUMNS}"""

SELECT_TOKEN = f"SELECT {TOKEN_COLUMNS} FROM registry.tokens WHERE jti = $1"

SELECT_TOKEN_FOR_UPDATE = f"SELECT {TOKEN_COLUMNS} FROM registry.tokens WHERE jti = $1 FOR UPDATE"

# Token list: fixed fragments joined by the repository, so each filter combination gets a
# plan that uses its index (a catch-all "$1 IS NULL OR ..." defeats the planner).
LIST_TOKENS = f"SELECT {TOKEN_COLUMNS} FROM registry.tokens"
LIST_FILTER_USER_ID = "user_id = ${}"
LIST_FILTER_USERNAME = "lower(username) = lower(${})"
LIST_FILTER_KIND = "kind = ${}"
LIST_FILTER_NAME = "name ILIKE ${} ESCAPE '\\'"
LIST_FILTER_AFTER = "(issued_at, jti) < (${}, ${})"
LIST_FILTER_STATUS = {
    "active": "revoked_at IS NULL AND NOT disabled AND expires_at > now()",
    "expired": "revoked_at IS NULL AND expires_at <= now()",
    "revoked": "revoked_at IS NOT NULL",
    "disabled": "revoked_at IS NULL AND disabled AND expires_at > now()",
}
LIST_ORDER = "ORDER BY issued_at DESC, jti DESC LIMIT ${}"

UPDATE_TOKEN_TEXT = f"""
UPDATE registry.tokens SET name = $2, description = $3 WHERE jti = $1
RETURNING {TOKEN_COLUMNS}"""

UPDATE_TOKEN_DOMAINS = f"""
UPDATE registry.tokens SET allowed_domains = $2, domains_overridden = true WHERE jti = $1
RETURNING {TOKEN_COLUMNS}"""

UPDATE_TOKEN_DISABLED = f"""
UPDATE registry.tokens
SET disabled = $2,
    disabled_at = CASE WHEN $2 THEN now() ELSE NULL END,
    disabled_by = CASE WHEN $2 THEN $3 ELSE NULL END
WHERE jti = $1
RETURNING {TOKEN_COLUMNS}"""

MARK_DEEP_LINK_USED = """
UPDATE registry.tokens SET deep_link_used_at = now()
WHERE jti = $1 AND deep_link_used_at IS NULL
RETURNING jti"""

REVOKE_TOKEN = f"""
UPDATE registry.tokens SET revoked_at = now(), revoked_by = $2, revoke_reason = $3
WHERE jti = $1 AND revoked_at IS NULL
RETURNING {TOKEN_COLUMNS}"""

REVOKE_USER_TOKENS = """
UPDATE registry.tokens SET revoked_at = now(), revoked_by = $2, revoke_reason = $3
WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
RETURNING jti, expires_at"""

UPSERT_SUBJECT_REVOCATION = """
INSERT INTO registry.subject_revocations (user_id, not_before, expires_at, revoked_by, reason)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (user_id) DO UPDATE
SET not_before = EXCLUDED.not_before,
    expires_at = GREATEST(registry.subject_revocations.expires_at, EXCLUDED.expires_at),
    revoked_by = EXCLUDED.revoked_by,
    reason = EXCLUDED.reason
RETURNING expires_at"""

SELECT_SUBJECT_NOT_BEFORE = """
SELECT not_before FROM registry.subject_revocations WHERE user_id = $1 AND expires_at > now()"""

# The rows are locked in jti order, whatever order a report lists them in: two instances
# reporting the same busy tokens at once would otherwise deadlock. A row is locked only where
# this use is later than the one recorded (checked again once the lock is ours), so the
# update itself needs no condition of its own.
MARK_TOKENS_USED = """
WITH used AS (
    SELECT t.jti, u.used_at
    FROM unnest($1::uuid[], $2::timestamptz[]) AS u(jti, used_at)
    JOIN registry.tokens AS t ON t.jti = u.jti
    WHERE t.last_used_at IS NULL OR t.last_used_at < u.used_at
    ORDER BY t.jti
    FOR UPDATE OF t
)
UPDATE registry.tokens AS t SET last_used_at = used.used_at
FROM used
WHERE t.jti = used.jti"""

# --- the outbox -------------------------------------------------------------------------

# The next sequence number, the event's row (its payload's "seq" set to that number) and the
# relay's wake-up, in one statement: the counter's row stays locked from here until the
# commit, and every round trip in between is time every other change waits for it.
APPEND_EVENT = """
WITH next AS (
    UPDATE registry.event_counter SET last_seq = last_seq + 1 RETURNING last_seq
), notified AS (
    SELECT pg_notify('latchkey_registry_events', last_seq::text) FROM next
)
INSERT INTO registry.events (seq, type, payload, created_at)
SELECT last_seq, $1, jsonb_set($2::jsonb, '{seq}', to_jsonb(last_seq)), $3
FROM next, notified
RETURNING seq"""

LATEST_SEQ = "SELECT last_seq FROM registry.event_counter"

EVENTS_CHANNEL = "latchkey_registry_events"

SELECT_EVENTS_AFTER = """
SELECT payload FROM registry.events WHERE seq > $1 ORDER BY seq LIMIT $2"""

OLDEST_EVENT_SEQ = "SELECT min(seq) FROM registry.events"

SELECT_UNPUBLISHED = """
SELECT seq, payload FROM registry.events WHERE published_at IS NULL ORDER BY seq LIMIT $1"""

MARK_PUBLISHED = "UPDATE registry.events SET published_at = now() WHERE seq = ANY($1::bigint[])"

# Keep the newest event whatever its age, so the oldest kept seq always tells where history starts.
PRUNE_EVENTS = """
DELETE FROM registry.events
WHERE published_at IS NOT NULL AND created_at < now() - make_interval(days => $1)
  AND seq < (SELECT last_seq FROM registry.event_counter)"""

TRY_RELAY_LOCK = "SELECT pg_try_advisory_lock(hashtextextended('latchkey.registry.relay', 0))"

# --- the snapshot (read in one REPEATABLE READ transaction) --------------------------------

# Revoked and disabled tokens come packed (latchkey.common.packed): PostgreSQL groups the jtis
# by the minute their tokens expire in (rounded up, as instances file them) and concatenates
# each group, so a million of them cost no work per row in Python. Sorting a million rows
# needs more than the default work_mem to stay off the disk.
SNAPSHOT_WORK_MEM = "SET LOCAL work_mem = '128MB'"

_PACKED = """
SELECT ceil(date_part('epoch', expires_at) / 60)::bigint AS minute,
       string_agg(uuid_send(jti), ''::bytea) AS jtis
FROM registry.tokens"""

SNAPSHOT_REVOKED = (
    _PACKED
    + """
WHERE revoked_at IS NOT NULL AND expires_at > now()
GROUP BY 1 ORDER BY 1"""
)

SNAPSHOT_DISABLED = (
    _PACKED
    + """
WHERE revoked_at IS NULL AND disabled AND expires_at > now()
GROUP BY 1 ORDER BY 1"""
)

SNAPSHOT_DOMAINS = """
SELECT jti, allowed_domains AS domains, expires_at FROM registry.tokens
WHERE revoked_at IS NULL AND domains_overridden AND expires_at > now()"""

SNAPSHOT_SUBJECTS = """
SELECT user_id, not_before, expires_at FROM registry.subject_revocations WHERE expires_at > now()"""

# --- the domain policy and the audit log ---------------------------------------------------

SELECT_POLICY = "SELECT domains, updated_at, updated_by FROM registry.domain_policy"

UPDATE_POLICY = """
UPDATE registry.domain_policy SET domains = $1, updated_at = now(), updated_by = $2
RETURNING domains, updated_at, updated_by"""

INSERT_AUDIT = """
INSERT INTO registry.audit (actor_id, actor_name, action, target, details)
VALUES ($1, $2, $3, $4, $5)"""

LIST_AUDIT = """
SELECT id, at, actor_id, actor_name, action, target, details FROM registry.audit
WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR target = $2)
ORDER BY id DESC LIMIT $3"""

# --- delivery receipts --------------------------------------------------------------------

RELAXED_COMMIT = "SET LOCAL synchronous_commit = off"

UPSERT_INSTANCE = """
INSERT INTO registry.instances (instance_id, service, applied_seq, mode, started_at, reported_at)
VALUES ($1, $2, $3, $4, $5, now())
ON CONFLICT (instance_id) DO UPDATE
SET service = EXCLUDED.service, applied_seq = EXCLUDED.applied_seq, mode = EXCLUDED.mode,
    started_at = EXCLUDED.started_at, reported_at = now()"""

INSERT_DELIVERIES = """
INSERT INTO registry.deliveries (seq, instance_id, applied_at, caught_up)
SELECT d.seq, $1, d.applied_at, d.caught_up
FROM unnest($2::bigint[], $3::timestamptz[], $4::boolean[]) AS d(seq, applied_at, caught_up)
ON CONFLICT DO NOTHING"""

LIVE_INSTANCES = """
SELECT instance_id, service, applied_seq, mode, started_at, reported_at
FROM registry.instances WHERE reported_at > now() - make_interval(secs => $1)
ORDER BY service, instance_id"""

SELECT_EVENT = "SELECT seq, type, created_at FROM registry.events WHERE seq = $1"

SELECT_DELIVERIES = """
SELECT i.instance_id, d.seq, d.applied_at, d.caught_up
FROM unnest($2::text[]) AS i(instance_id)
CROSS JOIN LATERAL (
    SELECT seq, applied_at, caught_up FROM registry.deliveries
    WHERE instance_id = i.instance_id AND seq >= $1
    ORDER BY seq LIMIT 1
) AS d"""
"""Each instance's first receipt at or after a change: of the change itself, or (when the
instance took it with a snapshot) of when it caught up."""

PRUNE_INSTANCES = """
DELETE FROM registry.instances WHERE reported_at < now() - make_interval(secs => $1)"""

PRUNE_DELIVERIES = """
DELETE FROM registry.deliveries WHERE applied_at < now() - make_interval(secs => $1)"""

# --- the keys events are signed with ----------------------------------------------------

EVENT_KEY_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('latchkey.registry.event_keys', 0))"

SELECT_EVENT_KEYS = """
SELECT kid, private_key, public_key FROM registry.event_keys ORDER BY created_at DESC, kid"""

INSERT_EVENT_KEY = """
INSERT INTO registry.event_keys (kid, private_key, public_key) VALUES ($1, $2, $3)"""

RESEAL_EVENT_KEY = "UPDATE registry.event_keys SET private_key = $2 WHERE kid = $1"

# --- console confirmations ----------------------------------------------------------------

SELECT_CONFIRMED = """
SELECT 1 FROM registry.console_confirmations WHERE jti = $1 AND confirmed_until > now()"""

UPSERT_CONFIRMATION = """
INSERT INTO registry.console_confirmations (jti, confirmed_until)
VALUES ($1, now() + make_interval(secs => $2))
ON CONFLICT (jti) DO UPDATE SET confirmed_until = EXCLUDED.confirmed_until"""

PRUNE_CONFIRMATIONS = "DELETE FROM registry.console_confirmations WHERE confirmed_until <= now()"

# --- revoking a jti nothing records --------------------------------------------------------

INSERT_REVOKED_UNKNOWN = f"""
INSERT INTO registry.tokens (
    jti, user_id, username, kind, name, issued_at, expires_at, revoked_at, revoked_by,
    revoke_reason)
VALUES ($1, '', '', 'unknown', '', now(), now() + make_interval(secs => $2), now(), $3, $4)
ON CONFLICT (jti) DO NOTHING
RETURNING {TOKEN_COLUMNS}"""
