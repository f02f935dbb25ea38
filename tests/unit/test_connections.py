"""Live WebSocket connections close when the view withdraws their token, by event or by a
whole snapshot (after a reconnect the registry may send one instead of the missed events)."""

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from latchkey.common.events import SubjectRevocation
from latchkey.common.packed import PackedRefs
from latchkey.common.tokenstate.view import TokenStateView
from latchkey.portal.connections import CLOSE_DISABLED, CLOSE_REVOKED, LiveConnections
from tests.support.state import EMPTY, NOW, claims


class Socket:
    """What LiveConnections uses of a WebSocketResponse: whether it is closed, and close()."""

    def __init__(self) -> None:
        self.closed = False
        self.code: int | None = None

    async def close(self, *, code: int, message: bytes) -> bool:
        self.closed, self.code = True, code
        return True


async def test_a_snapshot_closes_what_it_withdrew_and_nothing_else() -> None:
    view = TokenStateView()
    view.load(EMPTY)
    connections = LiveConnections()
    connections.follow(view)
    revoked, disabled, kept, old_session = (uuid.uuid4() for _ in range(4))
    sockets = {jti: Socket() for jti in (revoked, disabled, kept, old_session)}
    for jti, socket in sockets.items():
        sub = "gone-user" if jti == old_session else "u"
        issued = (NOW - timedelta(hours=1)).timestamp() if jti == old_session else None
        connections.add(socket, claims(jti, sub=sub, iat=issued))  # type: ignore[arg-type]
    later = NOW + timedelta(hours=2)
    snapshot: Any = EMPTY.model_copy(
        update={
            "seq": 9,
            "revoked": PackedRefs.of([(revoked, later)]),
            "disabled": PackedRefs.of([(disabled, later)]),
            "subjects": [SubjectRevocation(user_id="gone-user", not_before=NOW, expires_at=later)],
        }
    )
    view.load(snapshot)
    await asyncio.sleep(0)
    assert sockets[revoked].code == CLOSE_REVOKED
    assert sockets[disabled].code == CLOSE_DISABLED
    assert sockets[old_session].code == CLOSE_REVOKED
    assert not sockets[kept].closed
