"""Token state for the tests: claims and an empty snapshot to start views from, and a
reference model applied from a snapshot and events, for comparing views."""

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from latchkey.common.events import TokenStateSnapshot
from latchkey.common.packed import EMPTY_REFS, PackedRefs
from latchkey.common.verification import Claims

NOW = datetime.now(UTC)


def claims(jti: uuid.UUID, *, sub: str = "u", iat: float | None = None, **extra: object) -> Claims:
    issued = iat if iat is not None else time.time()
    return Claims.model_validate(
        {"iss": "i", "aud": "a", "sub": sub, "jti": jti, "iat": issued, "nbf": issued,
         "exp": issued + 3600, **extra}
    )  # fmt: skip


EMPTY = TokenStateSnapshot(
    seq=0, revoked=EMPTY_REFS, disabled=EMPTY_REFS, domains=[], subjects=[], policy_domains=[]
)


@dataclass
class ReferenceState:
    seq: int = 0
    revoked: set[str] = field(default_factory=set)
    disabled: set[str] = field(default_factory=set)
    domains: dict[str, list[str]] = field(default_factory=dict)
    policy: list[str] = field(default_factory=list)

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> "ReferenceState":
        return cls(
            seq=snapshot["seq"],
            revoked={str(jti) for jti, _ in PackedRefs.decode(snapshot["revoked"])},
            disabled={str(jti) for jti, _ in PackedRefs.decode(snapshot["disabled"])},
            domains={item["jti"]: item["domains"] for item in snapshot["domains"]},
            policy=list(snapshot["policyDomains"]),
        )

    def apply(self, event: dict[str, Any]) -> None:
        assert event["seq"] == self.seq + 1, (event["seq"], self.seq)
        self.seq = event["seq"]
        kind = event["type"]
        if kind == "token.revoked":
            self.revoked.add(event["jti"])
            self.disabled.discard(event["jti"])
            self.domains.pop(event["jti"], None)
        elif kind == "token.disabled":
            self.disabled.add(event["jti"])
        elif kind == "token.enabled":
            self.disabled.discard(event["jti"])
        elif kind == "token.domains_changed":
            self.domains[event["jti"]] = event["domains"]
        elif kind == "user.revoked":
            for token in event["tokens"]:
                self.revoked.add(token["jti"])
                self.disabled.discard(token["jti"])
                self.domains.pop(token["jti"], None)
        elif kind == "policy.changed":
            self.policy = list(event["domains"])
