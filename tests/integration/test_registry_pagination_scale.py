"""Keyset pagination stays an index walk with many rows: every list query the API builds is
planned without a sort or a sequential scan (checked on the plan, not on a stopwatch)."""

import json
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from latchkey.common.migrations import Migrations
from latchkey.registry import repository
from latchkey.registry.models import TokenListQuery

ROWS = 100_000


class PlanCapture:
    """Stands in for a connection: records the SQL the repository builds, runs nothing."""

    def __init__(self) -> None:
        self.sql = ""
        self.args: tuple[object, ...] = ()

    async def fetch(self, sql: str, *args: object) -> list[object]:
        self.sql, self.args = sql, args
        return []


@pytest.fixture
async def many_tokens(fresh_database: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(fresh_database)
    await Migrations.from_package("registry", "latchkey.registry").apply(conn)
    await conn.execute(
        """
        INSERT INTO registry.tokens (jti, user_id, username, kind, name, issued_at, expires_at,
                                     revoked_at, disabled)
        SELECT gen_random_uuid(), 'user-' || (n % 5000), 'name-' || (n % 5000),
               CASE WHEN n % 3 = 0 THEN 'access' ELSE 'session' END,
               'token ' || n, now() - make_interval(secs => n), now() + interval '1 day',
               CASE WHEN n % 7 = 0 THEN now() END, n % 11 = 0
        FROM generate_series(1, $1) AS n
        """,
        ROWS,
    )
    await conn.execute("ANALYZE registry.tokens")
    yield conn
    await conn.close()


QUERIES = {
    "all": TokenListQuery(),
    "user": TokenListQuery(user_id="user-42"),
    "username": TokenListQuery(username="NAME-42"),
    "revoked": TokenListQuery(status="revoked"),
    "active-access": TokenListQuery(status="active", kind="access"),
    "user-active": TokenListQuery(user_id="user-42", status="active"),
}


async def plan_of(conn: asyncpg.Connection, query: TokenListQuery, after: object) -> str:
    capture = PlanCapture()
    await repository.list_tokens(capture, query=query, after=after, limit=51)  # type: ignore[arg-type]
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {capture.sql}", *capture.args)
    return json.dumps(plan)


async def test_every_list_query_walks_an_index_without_sorting(
    many_tokens: asyncpg.Connection,
) -> None:
    """One table of many rows for every query shape (filling it is the slow part)."""
    for name, query in QUERIES.items():
        for after in (None, (datetime.now(UTC), uuid4())):
            plan = await plan_of(many_tokens, query, after)
            assert '"Node Type": "Sort"' not in plan, (name, plan)
            assert '"Node Type": "Seq Scan"' not in plan, (name, plan)
            assert "Index" in plan, name
    search = await plan_of(many_tokens, TokenListQuery(q="token 1999"), None)
    assert '"Node Type": "Seq Scan"' not in search, search
