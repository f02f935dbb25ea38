"""The migration runner on a real database: concurrent starts apply each file once."""

import asyncio
from pathlib import Path

import asyncpg
import pytest

from latchkey.common.migrations import Migration, MigrationError, Migrations

FIRST = Migration(1, "things", "CREATE TABLE demo.things (id int PRIMARY KEY);")
SECOND = Migration(2, "more", "INSERT INTO demo.things VALUES (1);")


async def apply_once(url: str, migrations: Migrations) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return await migrations.apply(conn)
    finally:
        await conn.close()


async def test_instances_starting_together_apply_each_migration_once(fresh_database: str) -> None:
    migrations = Migrations("demo", [SECOND, FIRST])
    results = await asyncio.gather(*(apply_once(fresh_database, migrations) for _ in range(5)))
    assert sorted(results) == [[], [], [], [], [1, 2]]
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM demo.things") == 1
        versions = await conn.fetch("SELECT version FROM demo.schema_migrations ORDER BY 1")
        assert [row["version"] for row in versions] == [1, 2]
    finally:
        await conn.close()


async def test_a_changed_migration_stops_the_start(fresh_database: str) -> None:
    await apply_once(fresh_database, Migrations("demo", [FIRST]))
    edited = Migration(1, "things", FIRST.sql + " -- edited")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await apply_once(fresh_database, Migrations("demo", [edited]))


async def test_a_failing_migration_leaves_nothing_behind(fresh_database: str) -> None:
    broken = Migration(2, "broken", "INSERT INTO demo.nowhere VALUES (1);")
    with pytest.raises(asyncpg.UndefinedTableError):
        await apply_once(fresh_database, Migrations("demo", [FIRST, broken]))
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT to_regclass('demo.things')") is None
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("schema", "package", "folder"),
    [
        ("registry", "latchkey.registry", "services/token-registry/src/latchkey/registry"),
        ("auth", "latchkey.auth", "services/auth/src/latchkey/auth"),
    ],
)
def test_each_service_ships_every_migration_in_its_tree_numbered_without_gaps(
    schema: str, package: str, folder: str
) -> None:
    """The installed package carries every migration file of the source tree (a file left
    out of the package would never be applied), numbered 1, 2, 3, ... in order."""
    root = Path(__file__).resolve().parents[2]
    in_tree = sorted(path.name for path in (root / folder / "migrations").glob("*.sql"))
    shipped = Migrations.from_package(schema, package).migrations
    assert [migration.version for migration in shipped] == list(range(1, len(in_tree) + 1))
    assert [f"{m.version:03d}_{m.name}.sql" for m in shipped] == in_tree
