"""Allowed-domain patterns: parsing (a clear error for anything odd) and exact matching.

A pattern is a host (`portal.example.com`, `localhost`, `127.0.0.1`, `[::1]`) or a wildcard
(`*.example.com`: any subdomain, not `example.com` itself, as in CSP), with an optional port.
Without a port it matches every port; with one, that port only. Hosts are compared in
lower-case ASCII (IDNA for non-ASCII names) without a trailing dot, so `Example.COM.`,
`bücher.example` and `xn--bcher-kva.example` are what they look like, and
`evil-example.com`, `example.com.evil.com` or `example.com@evil.com` are not `example.com`.
"""

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated

import idna
from pydantic import AfterValidator
from yarl import URL

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
MAX_DOMAINS = 100


class DomainPatternError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class DomainPattern:
    host: str
    """Lower-case ASCII host; for wildcards the part after `*.`."""
    wildcard: bool
    port: int | None

    def __str__(self) -> str:
        text = f"*.{self.host}" if self.wildcard else self.host
        return f"{text}:{self.port}" if self.port is not None else text

    def matches(self, host: str, port: int | None) -> bool:
        """Does this pattern allow `host` (already normalised) on `port`?"""
        if self.port is not None and port != self.port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host

    def csp_sources(self) -> tuple[str, str]:
        """This pattern as CSP host-sources (`frame-ancestors`), one per scheme: a source
        without a scheme takes the portal's, so an HTTPS portal would refuse the allowed
        site's plain-HTTP pages, which an allowed domain (a host, not an origin) includes."""
        text = f"*.{self.host}" if self.wildcard else self.host
        port = self.port if self.port is not None else "*"
        return f"http://{text}:{port}", f"https://{text}:{port}"


def normalise_host(host: str) -> str:
    """Lower-case ASCII host without a trailing dot; raises DomainPatternError if not a host."""
    host = host.strip().rstrip(".").lower()
    if not host:
        raise DomainPatternError("the host is empty")
    if host.startswith("[") and host.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            raise DomainPatternError(f"{host!r} is not an IPv6 address") from None
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise DomainPatternError(f"{host!r} is not a valid internationalised name") from None
    if len(host) > 253:
        raise DomainPatternError("the host is longer than 253 characters")
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise DomainPatternError(
            f"{host!r} is not a host name: use letters, digits, hyphens and dots only"
        )
    if labels[-1].isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise DomainPatternError(
                f"{host!r} is neither a host name nor an IPv4 address"
            ) from None
    return host


def parse_domain_pattern(text: str) -> DomainPattern:
    """Parse one allowed-domain entry, refusing schemes, paths, bare `*` and address ranges."""
    raw = text.strip()
    if not raw:
        raise DomainPatternError("an allowed domain cannot be empty")
    if len(raw) > 260:
        raise DomainPatternError("an allowed domain is at most 253 characters and a port")
    if "://" in raw or (raw.split(":", 1)[0].lower() in _DEFAULT_PORTS and ":" in raw):
        raise DomainPatternError(f"{raw!r}: give the host only, without a scheme such as https://")
    if any(char in raw for char in "/?#@\\ \t"):
        raise DomainPatternError(f"{raw!r}: give the host only, without a path, user or spaces")
    host, port = _split_port(raw)
    wildcard = host.startswith("*.")
    if wildcard:
        host = host[2:]
    if "*" in host:
        raise DomainPatternError(
            f"{raw!r}: a wildcard is allowed only as the first label, as in *.example.com"
        )
    normalised = normalise_host(host)
    if wildcard:
        if normalised.startswith("[") or _is_ipv4(normalised):
            raise DomainPatternError(f"{raw!r}: an IP address cannot take a wildcard")
        if "." not in normalised:
            raise DomainPatternError(f"{raw!r}: a wildcard must cover a domain, not a whole TLD")
    return DomainPattern(host=normalised, wildcard=wildcard, port=port)


def _split_port(raw: str) -> tuple[str, int | None]:
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise DomainPatternError(f"{raw!r}: unclosed IPv6 bracket")
        host, rest = raw[: end + 1], raw[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise DomainPatternError(f"{raw!r}: unexpected text after the IPv6 address")
        return host, _parse_port(rest[1:], raw)
    if raw.count(":") > 1:
        raise DomainPatternError(f"{raw!r}: write an IPv6 address in brackets, as in [::1]")
    if ":" in raw:
        host, port_text = raw.split(":")
        return host, _parse_port(port_text, raw)
    return raw, None


def _parse_port(text: str, raw: str) -> int:
    if not _PORT.match(text) or not 0 < int(text) < 65536:
        raise DomainPatternError(f"{raw!r}: the port must be a number from 1 to 65535")
    return int(text)


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def normalise_domain_list(values: list[str]) -> list[str]:
    """Validate and normalise a list of patterns (deduplicated, order kept)."""
    if len(values) > MAX_DOMAINS:
        raise DomainPatternError(f"at most {MAX_DOMAINS} allowed domains")
    seen: dict[str, None] = {}
    problems = []
    for index, value in enumerate(values):
        try:
            seen[str(parse_domain_pattern(value))] = None
        except DomainPatternError as exc:
            problems.append(f"entry {index + 1}: {exc}")
    if problems:
        raise DomainPatternError("; ".join(problems))
    return list(seen)


DomainList = Annotated[list[str], AfterValidator(normalise_domain_list)]
"""A pydantic field type: a validated, normalised list of allowed-domain patterns."""


MAX_ORIGIN_LENGTH = 4096
ORIGIN_CACHE_SIZE = 1024
"""Origins read lately, by their exact text: a router reads its own origin (scheme and Host)
and the sender's on every request, and parsing one (yarl, then the host's rules) cost more
than the rest of a forward-auth check. At most 1024 entries of at most 4 KiB."""


def origin_host_port(origin: str) -> tuple[str, int] | None:
    """Host and port of an Origin or Referer value; None when it names no http(s) site."""
    if not origin or origin == "null" or len(origin) > MAX_ORIGIN_LENGTH:
        return None
    return _origin_host_port(origin)


@functools.lru_cache(maxsize=ORIGIN_CACHE_SIZE)
def _origin_host_port(origin: str) -> tuple[str, int] | None:
    """`origin_host_port`, a pure function of the text: cached."""
    if _CONTROL_OR_SPACE.search(origin):
        return None
    try:
        url = URL(origin)
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or not url.raw_host:
        return None
    try:
        host = normalise_host(
            url.raw_host if not _is_bare_ipv6(url.raw_host) else f"[{url.raw_host}]"
        )
        port = url.port if url.port is not None else _DEFAULT_PORTS[url.scheme]
    except (DomainPatternError, ValueError):
        return None
    return host, port


def _is_bare_ipv6(host: str) -> bool:
    return ":" in host and not host.startswith("[")


def is_allowed(patterns: list[DomainPattern], host: str, port: int) -> bool:
    return any(pattern.matches(host, port) for pattern in patterns)
