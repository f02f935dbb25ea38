"""Which failures are a database outage (a 503, logged once) and which stay bugs (a 500)."""

import logging
import socket

import asyncpg
import pytest

from latchkey.common import errors
from latchkey.common.outages import Outage, is_database_outage
from latchkey.common.web import as_api_error


async def test_failing_to_reach_the_database_is_an_outage() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once it is closed
    with pytest.raises(ConnectionRefusedError) as refused:
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/x", timeout=2)
    assert is_database_outage(refused.value)
    error = as_api_error(refused.value)
    assert error is not None
    assert (error.status, error.reason) == (503, "database_unavailable")


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InterfaceError("pool is closing"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
    ],
)
def test_what_asyncpg_says_of_a_connection_that_is_gone_is_an_outage(exc: Exception) -> None:
    assert is_database_outage(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError("another service, not the database"),
        TimeoutError(),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.UniqueViolationError("duplicate key"),
        RuntimeError("a bug"),
    ],
)
def test_other_failures_stay_what_they_are(exc: Exception) -> None:
    assert not is_database_outage(exc)
    assert as_api_error(exc) is None  # the edge logs its trace and answers 500


def test_an_outage_is_one_line_when_it_starts_and_one_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="latchkey.common.outages")
    outage = Outage("database")
    for _ in range(50):
        outage.failed(ConnectionResetError())
    outage.answered()
    outage.answered()
    assert [(r.levelno, " ".join(r.getMessage().split()[:3])) for r in caplog.records] == [
        (logging.WARNING, "database unavailable (ConnectionResetError):"),
        (logging.INFO, "database answers again"),
    ]
    assert "50 failure(s)" in caplog.records[-1].getMessage()
    assert outage.outages == 1
    assert not outage.down


def test_background_work_sees_an_outage_as_database_unavailable() -> None:
    outage = Outage("database")
    with pytest.raises(errors.DatabaseUnavailable), outage.noticing():
        raise asyncpg.exceptions.ConnectionDoesNotExistError("gone")
    assert outage.down
    with pytest.raises(ValueError, match="not an outage"), outage.noticing():
        raise ValueError("not an outage")
