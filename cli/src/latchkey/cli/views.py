"""How token records, users and keys look to a person: table columns and detail listings."""

from typing import Any

from latchkey.cli.output import Column, Row, clean, details, listing, when

TOKEN_COLUMNS: list[Column] = [
    ("JTI", lambda row: row["jti"]),
    ("USER", lambda row: clean(row["username"], 24)),
    ("KIND", lambda row: row["kind"]),
    ("NAME", lambda row: clean(row["name"], 32) or "-"),
    ("STATUS", lambda row: row["status"]),
    ("EXPIRES", lambda row: when(row["expiresAt"])),
]

USER_COLUMNS: list[Column] = [
    ("USER ID", lambda row: row["userId"]),
    ("USERNAME", lambda row: clean(row["username"], 32)),
    ("DISPLAY NAME", lambda row: clean(row["displayName"], 32) or "-"),
    ("ROLES", lambda row: listing(row["roles"])),
    ("PORTALS", lambda row: listing(row["portals"])),
    ("STATUS", lambda row: "disabled" if row["disabled"] else "active"),
]

KEY_COLUMNS: list[Column] = [
    ("KID", lambda row: row["kid"]),
    ("ALGORITHM", lambda row: row["algorithm"]),
    ("CURRENT", lambda row: "yes" if row["current"] else "no"),
]


def _by(at: str | None, who: str | None) -> str:
    return f"{when(at)} by {who}" if who else when(at)


def token_details(token: Row) -> None:
    """Every field of a record (the API never answers the token string itself)."""
    pairs = [
        ("JTI", token["jti"]),
        ("User", f"{token['username']} ({token['userId']})"),
        ("Kind", token["kind"]),
        ("Name", token["name"] or "-"),
        ("Description", token["description"] or "-"),
        ("Status", token["status"]),
        ("Portals", listing(token["portals"])),
        ("Allowed domains", listing(token["allowedDomains"]) if token["allowedDomains"] else "-"),
        ("Channel", token["channel"] or "-"),
        ("Platform", token["platform"] or "-"),
        ("Device", token["device"] or "-"),
        ("Created by", token["createdBy"] or "-"),
        ("Issued", when(token["issuedAt"])),
        ("Expires", when(token["expiresAt"])),
        ("Last used", when(token["lastUsedAt"])),
    ]
    if token["disabled"]:
        pairs.append(("Disabled", _by(token["disabledAt"], token["disabledBy"])))
    if token["revokedAt"]:
        pairs.append(("Revoked", _by(token["revokedAt"], token["revokedBy"])))
        pairs.append(("Revoke reason", token["revokeReason"] or "-"))
    details(pairs)


def user_details(user: Row) -> None:
    details(
        [
            ("User ID", user["userId"]),
            ("Username", user["username"]),
            ("Display name", user["displayName"] or "-"),
            ("Roles", listing(user["roles"])),
            ("Portals", listing(user["portals"])),
            ("Status", "disabled" if user["disabled"] else "active"),
            ("Password changed", when(user["passwordChangedAt"])),
            ("Created", when(user["createdAt"])),
            ("Updated", when(user["updatedAt"])),
        ]
    )


def change_note(data: Any) -> str:
    """Which change to ask about (`GET /api/v1/events/{seq}/delivery`) to see it arrive."""
    seq = data.get("eventSeq") if isinstance(data, dict) else None
    return f" (change {seq})" if seq is not None else ""
