"""Allowed-domain patterns: what they accept, what they refuse, and exactly what they match."""

import pytest

from latchkey.common.domains import (
    DomainPatternError,
    is_allowed,
    normalise_domain_list,
    origin_host_port,
    parse_domain_pattern,
)


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("example.com", "example.com"),
        ("Example.COM.", "example.com"),
        ("*.Example.com", "*.example.com"),
        ("portal.example.com:8443", "portal.example.com:8443"),
        ("localhost", "localhost"),
        ("localhost:3000", "localhost:3000"),
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("[::1]", "[::1]"),
        ("[0:0::1]:9000", "[::1]:9000"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("*.bücher.example", "*.xn--bcher-kva.example"),
        ("  spaced.example.com ", "spaced.example.com"),
    ],
)
def test_patterns_are_normalised(text: str, normalised: str) -> None:
    assert str(parse_domain_pattern(text)) == normalised


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com",
        "http:example.com",
        "example.com/path",
        "example.com?x=1",
        "example.com#frag",
        "user@example.com",
        "*",
        "*.com",
        "*.*.example.com",
        "a.*.example.com",
        "*example.com",
        "10.0.0.0/8",
        "10.0.0.*",
        "*.10.0.0.1",
        "*.[::1]",
        "::1",
        "[::1",
        "[zz::1]",
        "example.com:0",
        "example.com:65536",
        "example.com:",
        "example.com:8a",
        "exa mple.com",
        "exa\tmple.com",
        "-lead.example.com",
        "trail-.example.com",
        "example..com",
        "",
        " ",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
        "example.com\\evil.com",
        "1.2.3",
        "999.1.1.1",
    ],
)
def test_bad_patterns_are_refused_with_a_message(text: str) -> None:
    with pytest.raises(DomainPatternError) as error:
        parse_domain_pattern(text)
    assert str(error.value)


@pytest.mark.parametrize(
    ("pattern", "origin", "allowed"),
    [
        ("example.com", "https://example.com", True),
        ("example.com", "http://example.com:8080", True),
        ("example.com", "https://EXAMPLE.com", True),
        ("example.com", "https://example.com.", True),
        ("example.com", "https://www.example.com", False),
        ("example.com", "https://evil-example.com", False),
        ("example.com", "https://example.com.evil.com", False),
        ("example.com", "https://example.com@evil.com", False),
        ("example.com", "https://evil.com/?https://example.com", False),
        ("example.com", "https://evil.com#example.com", False),
        ("example.com", "https://xn--exmple-cua.com", False),
        ("*.example.com", "https://a.example.com", True),
        ("*.example.com", "https://a.b.example.com", True),
        ("*.example.com", "https://example.com", False),
        ("*.example.com", "https://evilexample.com", False),
        ("*.example.com", "https://a.example.com.evil.com", False),
        ("example.com:8443", "https://example.com:8443", True),
        ("example.com:8443", "https://example.com", False),
        ("example.com:443", "https://example.com", True),
        ("example.com:80", "https://example.com", False),
        ("localhost:3000", "http://localhost:3000", True),
        ("localhost:3000", "http://localhost:3001", False),
        ("127.0.0.1", "http://127.0.0.1:9999", True),
        ("127.0.0.1", "http://127.0.0.2", False),
        ("[::1]", "http://[::1]:8080", True),
        ("bücher.example", "https://xn--bcher-kva.example", True),
        ("example.com", "null", False),
        ("example.com", "file:///etc/passwd", False),
        ("example.com", "javascript:alert(1)", False),
        ("example.com", "data:text/html,x", False),
        ("example.com", "https://exa\nmple.com", False),
        ("example.com", "", False),
        ("example.com", "//example.com", False),
        ("example.com", "example.com", False),
    ],
)
def test_origins_match_exactly_what_the_pattern_says(
    pattern: str, origin: str, allowed: bool
) -> None:
    found = origin_host_port(origin)
    result = found is not None and is_allowed([parse_domain_pattern(pattern)], *found)
    assert result is allowed


def test_referers_are_matched_by_their_origin_only() -> None:
    assert origin_host_port("https://app.example.com/page?x=https://evil.com") == (
        "app.example.com",
        443,
    )


def test_domain_lists_are_deduplicated_in_order() -> None:
    assert normalise_domain_list(["B.example.com", "a.example.com", "b.example.com."]) == [
        "b.example.com",
        "a.example.com",
    ]


def test_a_list_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(DomainPatternError):
        normalise_domain_list([f"h{i}.example.com" for i in range(101)])


def test_csp_sources_keep_the_port_rule() -> None:
    assert parse_domain_pattern("*.example.com").csp_sources() == (
        "http://*.example.com:*",
        "https://*.example.com:*",
    )
    assert parse_domain_pattern("example.com:8443").csp_sources() == (
        "http://example.com:8443",
        "https://example.com:8443",
    )


def test_every_bad_entry_of_a_list_is_named() -> None:
    with pytest.raises(DomainPatternError) as error:
        normalise_domain_list(["good.example", "https://x.example", "*", "fine.example"])
    message = str(error.value)
    assert "entry 2" in message
    assert "entry 3" in message
    assert "entry 1" not in message
