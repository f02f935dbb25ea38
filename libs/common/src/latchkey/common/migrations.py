"""Numbered SQL migrations per service schema, applied once, in order, by one instance at a time.

Files are `NNN_description.sql` in a package's `migrations` folder. Each run takes a
transaction-level advisory lock named after the schema, so instances that start together
queue up and the later ones find nothing left to do. An applied file that has since changed
stops the start: editing history is a mistake to catch, not to paper over.
"""

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class MigrationError(RuntimeError):
    """The database's migration history does not match the files shipped with the service."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class Migrations:
    """The migrations of one schema, read from `<package>/migrations/*.sql`."""

    def __init__(self, schema: str, migrations: list[Migration]) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"not a plain schema name: {schema!r}")
        versions = [migration.version for migration in migrations]
        if len(set(versions)) != len(versions):
            raise ValueError(f"two migrations share a number in {schema}")
        self.schema = schema
        self.migrations = sorted(migrations, key=lambda migration: migration.version)

    @classmethod
    def from_package(cls, schema: str, package: str) -> "Migrations":
        folder = resources.files(package) / "migrations"
        found = []
        for entry in folder.iterdir():
            match = _FILE_NAME.match(entry.name)
            if match:
                found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
        return cls(schema, found)

    async def apply(self, connection: asyncpg.Connection) -> list[int]:
        """Apply what is missing; returns the versions applied by this call."""
        applied_now = []
        async with connection.transaction():
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                f"latchkey.migrations.{self.schema}",
            )
            await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            await connection.execute(
                f"""CREATE TABLE IF NOT EXISTS {self.schema}.schema_migrations (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            rows = await connection.fetch(
                f"SELECT version, checksum FROM {self.schema}.schema_migrations"
            )
            applied = {row["version"]: row["checksum"] for row in rows}
            for migration in self.migrations:
                if migration.version in applied:
                    if applied[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"{self.schema} migration {migration.version} ({migration.name}) "
                            "changed after it was applied; add a new migration instead"
                        )
                    continue
                await connection.execute(migration.sql)
                await connection.execute(
                    f"INSERT INTO {self.schema}.schema_migrations (version, name, checksum) "
                    "VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
                applied_now.append(migration.version)
        if applied_now:
            log.info("schema %s migrated: applied %s", self.schema, applied_now)
        return applied_now
