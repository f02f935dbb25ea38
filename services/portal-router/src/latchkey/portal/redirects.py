"""Paths and redirect targets that can never leave the portal (no open redirect), and the
portal an original URI names for forward-auth.

A target is refused or folded back into the portal when it carries a scheme or a host,
starts with `//` or `/\\`, holds a backslash, an encoded slash or backslash, a control
character or whitespace, a path parameter that hides a dot segment (`..;`, which Tomcat and
Spring read as `..`), or is longer than allowed; dot segments are resolved and may not climb
out of the portal.
"""

import re
from urllib.parse import unquote

from latchkey.common import errors

_ENCODED_DANGER = re.compile(r"%(2f|5c|0[0-9a-f]|1[0-9a-f]|7f|25)", re.IGNORECASE)
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f\\]")


class BadLink(errors.BadRequest):
    reason = "bad_link"
    message = "This link is not well formed."


_PLAIN_UNLESS = re.compile(r"[\x00-\x20\x7f\\%;]|//|/\.")
"""What sends a path through the full cleaning: escapes, empty or dot segments, and the
characters the full cleaning refuses. Most paths have none and are already clean."""
_PLAIN_URI_UNLESS = re.compile(r"[\x00-\x20\x7f\\%;#]|//|/\.")
"""The same for an original URI's path (forward-auth), where `#` is refused too."""


def clean_path(raw_path: str, portal: str, *, max_length: int) -> str:
    """The request path made safe: dot segments resolved, empty segments dropped, and always
    inside `/{portal}`. Raises BadLink for what no legitimate link contains."""
    if len(raw_path) <= max_length and not _PLAIN_UNLESS.search(raw_path):
        home = "/" + portal
        if raw_path == home or (raw_path.startswith(home + "/") and len(raw_path) > len(home) + 1):
            return raw_path  # what the full cleaning would return, on every request
    return _clean_path_fully(raw_path, portal, max_length=max_length)


def _clean_path_fully(raw_path: str, portal: str, *, max_length: int) -> str:
    if len(raw_path) > max_length or _CONTROL_OR_SPACE.search(raw_path):
        raise BadLink()
    if _ENCODED_DANGER.search(raw_path):
        raise BadLink()
    segments: list[str] = []
    for segment in raw_path.split("/"):
        decoded = unquote(segment)
        if ";" in decoded and decoded.split(";", 1)[0] in (".", ".."):
            raise BadLink()
        if decoded in ("", "."):
            continue
        if decoded == "..":
            if len(segments) > 1:
                segments.pop()
            continue
        segments.append(segment)
    if not segments or segments[0] != portal:
        raise BadLink()
    path = "/" + "/".join(segments)
    return path + "/" if raw_path.endswith("/") and len(segments) > 1 else path


def without_query_parameter(raw_query: str, name: str) -> str:
    """The raw query string minus every `name=...` pair; the rest keeps its order and bytes."""
    kept = [
        pair
        for pair in raw_query.split("&")
        if pair and unquote(pair.split("=", 1)[0].replace("+", " ")) != name
    ]
    return "&".join(kept)


def safe_redirect(target: str | None, portal: str, *, home: str, max_length: int) -> str:
    """Where `/auth/login?redirect=...` may send the user: a path of this portal, else home."""
    if not target or len(target) > max_length:
        return home
    if not target.startswith("/") or target.startswith("//") or target.startswith("/\\"):
        return home
    if _CONTROL_OR_SPACE.search(target) or "#" in target:
        return home
    path, _, query = target.partition("?")
    try:
        cleaned = clean_path(path, portal, max_length=max_length)
    except BadLink:
        return home
    return cleaned + ("?" + query if query else "")


def portal_of_uri(uri: str, *, max_length: int) -> str:
    """The portal an original URI (nginx's `$request_uri`, Traefik's X-Forwarded-Uri) names,
    read as nginx reads it: percent-escapes decoded, then dot segments and repeated slashes.
    Anything whose normalised path would differ from what was sent is refused (BadLink): a
    `..` (however escaped), `//`, an encoded slash or backslash, a control character, or a
    path parameter (`;`): otherwise the portal checked here and the location nginx serves
    could be two different ones."""
    path = uri.split("?", 1)[0]
    if len(path) <= max_length and path.startswith("/") and not _PLAIN_URI_UNLESS.search(path):
        return path.split("/", 2)[1]  # no escapes, dots or empty segments: what follows says
    return _portal_of_path_fully(path, max_length=max_length)


def _portal_of_path_fully(path: str, *, max_length: int) -> str:
    if len(path) > max_length or not path.startswith("/") or _ENCODED_DANGER.search(path):
        raise BadLink()
    decoded = unquote(path)
    if _CONTROL_OR_SPACE.search(decoded) or ";" in decoded or "#" in decoded:
        raise BadLink()
    segments = decoded.split("/")[1:]
    for index, segment in enumerate(segments):
        if segment in (".", "..") or (segment == "" and index < len(segments) - 1):
            raise BadLink()
    return segments[0]
