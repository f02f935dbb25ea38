"""The verification core: exact checks, a cache that only verified tokens enter, key rotation."""

import time
from typing import Any

import jwt
import pytest

from latchkey.common import errors
from latchkey.common.verification import TokenVerifier, parse_jwks
from tests.support.issuer import SigningKey, TokenMinter


class StaticKeys:
    def __init__(self, minter: TokenMinter) -> None:
        self.minter = minter
        self.lookups = 0

    async def key(self, kid: str) -> jwt.PyJWK:
        self.lookups += 1
        keys = parse_jwks({"keys": [key.jwk() for key in self.minter.keys]}, ["RS256"])
        if kid not in keys:
            raise errors.TokenInvalid()
        return keys[kid]


def make_verifier(minter: TokenMinter, **kw: Any) -> tuple[TokenVerifier, StaticKeys]:
    keys = StaticKeys(minter)
    return TokenVerifier(keys, issuer="latchkey", audience="latchkey", **kw), keys


async def test_a_verified_token_is_checked_once_then_served_from_the_cache() -> None:
    minter = TokenMinter()
    verifier, keys = make_verifier(minter)
    token, claims = minter.token()
    first = await verifier.verify(token)
    second = await verifier.verify(token)
    assert first is second
    assert str(first.jti) == claims["jti"]
    assert keys.lookups == 1


async def test_a_cached_token_still_expires() -> None:
    minter = TokenMinter()
    now = [time.time()]
    verifier, _ = make_verifier(minter, clock=lambda: now[0])
    token, claims = minter.token(exp=int(now[0]) + 10)
    await verifier.verify(token)
    now[0] = claims["exp"]
    with pytest.raises(errors.TokenExpired):
        await verifier.verify(token)


async def test_a_forged_token_never_enters_the_cache() -> None:
    minter = TokenMinter()
    verifier, keys = make_verifier(minter)
    forged = minter.sign(minter.claims(), key=SigningKey.generate(kid=minter.keys[0].kid))
    for _ in range(3):
        with pytest.raises(errors.TokenInvalid):
            await verifier.verify(forged)
    assert keys.lookups == 3
    assert verifier.cached(forged) is None


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"exp": -1}, errors.TokenExpired),
        ({"nbf": 60}, errors.TokenInvalid),
        ({"iat": 60}, errors.TokenInvalid),
        ({"aud": "other"}, errors.TokenInvalid),
        ({"aud": ["other", "more"]}, errors.TokenInvalid),
        ({"iss": "other"}, errors.TokenInvalid),
        ({"sub": None}, errors.TokenInvalid),
        ({"sub": ""}, errors.TokenInvalid),
        ({"jti": "not-a-uuid"}, errors.TokenInvalid),
        ({"exp": "tomorrow"}, errors.TokenInvalid),
        ({"roles": "admin"}, errors.TokenInvalid),
    ],
)
async def test_bad_claims_are_refused(overrides: dict[str, Any], error: type[Exception]) -> None:
    """Integer exp/nbf/iat values are seconds from now."""
    minter = TokenMinter()
    verifier, _ = make_verifier(minter, clock_skew=5)
    now = int(time.time())
    resolved = {
        key: now + value if key in ("exp", "nbf", "iat") and isinstance(value, int) else value
        for key, value in overrides.items()
    }
    token, _ = minter.token(**resolved)
    with pytest.raises(error):
        await verifier.verify(token)


async def test_clock_skew_is_tolerated_on_not_before_only() -> None:
    minter = TokenMinter()
    verifier, _ = make_verifier(minter, clock_skew=5)
    now = int(time.time())
    token, _ = minter.token(nbf=now + 3, iat=now + 3)
    assert (await verifier.verify(token)).nbf == now + 3


async def test_audience_lists_that_include_ours_are_accepted() -> None:
    minter = TokenMinter()
    verifier, _ = make_verifier(minter)
    token, _ = minter.token(aud=["crm", "latchkey"])
    assert (await verifier.verify(token)).aud == ["crm", "latchkey"]


async def test_the_cache_is_bounded() -> None:
    minter = TokenMinter()
    verifier, _ = make_verifier(minter, cache_size=3)
    tokens = [minter.token()[0] for _ in range(5)]
    for token in tokens:
        await verifier.verify(token)
    assert [verifier.cached(token) is not None for token in tokens] == [
        False,
        False,
        True,
        True,
        True,
    ]


def test_jwks_keeps_only_signing_keys_of_accepted_algorithms() -> None:
    minter = TokenMinter()
    good = minter.keys[0].jwk()
    document = {
        "keys": [
            good,
            {**good, "kid": "enc", "use": "enc"},
            {**good, "kid": "hs", "alg": "HS256"},
            {"kid": "junk", "kty": "RSA", "n": "x"},
            "not a key",
        ]
    }
    assert list(parse_jwks(document, ["RS256"])) == [good["kid"]]
    assert parse_jwks(document, ["ES256"]) == {}
