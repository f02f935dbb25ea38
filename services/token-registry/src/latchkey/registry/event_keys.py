"""The registry's event-signing keys: made at the first start, kept sealed in the database
(so every registry instance signs with the same key), published to instances over the
internal API (`latchkey.common.event_signing` says why events are signed)."""

import logging

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from latchkey.common.contracts import EventKeys
from latchkey.common.event_signing import EventSigner
from latchkey.common.sealing import Sealer, is_sealed
from latchkey.registry import repository as repo

log = logging.getLogger(__name__)


async def load_signer(pool: asyncpg.Pool, sealer: Sealer) -> tuple[EventSigner, EventKeys]:
    """The key that signs from now on, and every public key instances should accept.
    Generates the first key; seals keys an earlier version stored in clear."""
    async with pool.acquire() as conn, conn.transaction():
        await repo.lock_event_keys(conn)
        stored = await repo.event_keys(conn)
        if not stored:
            signer = EventSigner(Ed25519PrivateKey.generate())
            await repo.insert_event_key(
                conn,
                kid=signer.kid,
                private_key=sealer.seal(signer.private_bytes()),
                public_key=signer.published().public_key,
            )
            log.info("generated the event-signing key %s", signer.kid)
            stored = await repo.event_keys(conn)
        signers = []
        for kid, private, _public in stored:
            signer = EventSigner(Ed25519PrivateKey.from_private_bytes(sealer.open(private)))
            if not is_sealed(private):
                await repo.reseal_event_key(
                    conn, kid=kid, private_key=sealer.seal(signer.private_bytes())
                )
                log.info("sealed the event-signing key %s, kept in clear until now", kid)
            signers.append(signer)
    return signers[0], EventKeys(keys=[signer.published() for signer in signers])
