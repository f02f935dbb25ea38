"""Latchkey token registry: every token's record, revocation, domain policy and the event outbox."""
