"""Portal paths and original URIs: the fast paths for plain ones answer exactly what the full
cleaning and reading do."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from latchkey.portal.redirects import (
    BadLink,
    _clean_path_fully,
    _portal_of_path_fully,
    clean_path,
    portal_of_uri,
)

MAX = 200
SEGMENTS = st.sampled_from(["agent", "admin", "x", "", ".", "..", "%2f", "%2e", "a%20b", "\\", "é"])
PATHS = st.lists(SEGMENTS | st.text(max_size=4), max_size=6).map(lambda parts: "/".join(parts))


def outcome(clean: object, path: str) -> str:
    try:
        return clean(path, "agent", max_length=MAX)  # type: ignore[operator,no-any-return]
    except BadLink:
        return "refused"


@given(PATHS | PATHS.map(lambda path: "/" + path))
def test_the_fast_path_agrees_with_the_full_cleaning(path: str) -> None:
    assert outcome(clean_path, path) == outcome(_clean_path_fully, path)


SEGMENTS_OF_URIS = SEGMENTS | st.sampled_from(["%2e%2e", "a;b", "#", "\x00", " ", "%41"])
URIS = st.lists(SEGMENTS_OF_URIS | st.text(max_size=4), max_size=6).map(
    lambda parts: "/".join(parts)
)


def portal_read(read: object, uri: str) -> str:
    try:
        return read(uri, max_length=MAX)  # type: ignore[operator,no-any-return]
    except BadLink:
        return "refused"


@given(URIS | URIS.map(lambda path: "/" + path), st.sampled_from(["", "?", "?a=/../b", "?#"]))
def test_the_fast_reading_of_an_original_uri_agrees_with_the_full_one(
    path: str, query: str
) -> None:
    uri = path + query
    full = portal_read(_portal_of_path_fully, uri.split("?", 1)[0])
    assert portal_read(portal_of_uri, uri) == full


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [
        ("/agent", "/agent"),
        ("/agent/", "/agent"),
        ("/agent/chat", "/agent/chat"),
        ("/agent/chat/", "/agent/chat/"),
        ("/agent//chat", "/agent/chat"),
        ("/agent/./chat/../inbox", "/agent/inbox"),
        ("/agent/../../admin", "/agent/admin"),
        ("//evil.example/agent", "refused"),
        ("/agent/%2fevil", "refused"),
        ("/agent/a\\b", "refused"),
        ("/admin/x", "refused"),
        ("/agent/" + "x" * MAX, "refused"),
    ],
)
def test_paths(path: str, cleaned: str) -> None:
    assert outcome(clean_path, path) == cleaned
