"""PostgreSQL: ``pg_dump --format=custom`` of Summit's schema, restored by
``pg_restore`` through ``psql --single-transaction``.

The dump runs in a snapshot exported from our own REPEATABLE READ transaction
(``pg_dump --snapshot``), and the row counts and revisions are read in that
same snapshot: the manifest describes exactly what the dump holds, while the
server goes on writing.

The restore drops the schema and recreates it from the dump in ONE transaction
(``psql --single-transaction -v ON_ERROR_STOP=1``): any failure rolls all of
it back and the old schema stays. Dropping the schema (rather than
``pg_restore --clean``) also removes tables a newer migration added, so the
restored schema is exactly the backup's. Extensions are database-wide, outside
a schema's dump: the manifest lists them and the restore creates those missing.
The client tools must be of the server's major version or newer (Debian:
``postgresql-client``). The password goes to them in ``PGPASSWORD``, never on
a command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

from psycopg.conninfo import make_conninfo
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.backup.errors import Corrupt, Refused

if TYPE_CHECKING:
    from app.backup.service import Manifest, Snapshot

VERSIONS = "alembic_version"
TIMEOUT = 3600  # seconds one tool may run


def work_dir(_url: str) -> None:
    return None  # the system's temporary folder


def _conninfo(url: str) -> tuple[str, dict[str, str]]:
    parts = make_url(url)
    params = {key: str(value) for key, value in parts.query.items()}
    info = make_conninfo(
        host=parts.host or "", port=str(parts.port or ""), user=parts.username or "",
        dbname=parts.database or "", **params,
    )  # fmt: skip
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return info, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise Refused(
            f"{name} is not installed: install the PostgreSQL client tools of the server's "
            "major version (Debian: apt-get install postgresql-client)"
        )
    return found


def _connect(url: str) -> Connection:
    return create_engine(url, poolclass=NullPool).connect()


def dump(*, url: str, to: Path) -> Snapshot:
    from app.backup.service import Snapshot

    info, env = _conninfo(url)
    pg_dump = _tool("pg_dump")
    with _connect(url) as connection:
        connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            schema = _schema(connection)
            tables = _counts(connection, schema)
            if not tables:
                raise Refused(f"the schema {schema!r} holds no tables: nothing to back up")
            revisions = _revisions(connection, schema, tables)
            extensions = [list(row) for row in connection.execute(text(EXTENSIONS))]
            _run(
                [pg_dump, "--format=custom", f'--schema="{schema}"', f"--snapshot={snapshot}",
                 f"--file={to}", f"--dbname={info}"],
                env=env, doing="pg_dump",
            )  # fmt: skip
    return Snapshot(revisions=revisions, tables=tables, schema=schema, extensions=extensions)


EXTENSIONS = (
    "SELECT e.extname, n.nspname FROM pg_extension e "
    "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql' ORDER BY 1"
)


def _schema(connection: Connection, wanted: str | None = None) -> str:
    """Summit's schema: the first on the search path that exists; when none does
    (the schema was dropped), ``wanted`` if the search path names it."""
    current = connection.execute(text("SELECT current_schema()")).scalar()
    if current:
        return str(current)
    path = str(connection.execute(text("SHOW search_path")).scalar())
    user = str(connection.execute(text("SELECT current_user")).scalar())
    entries = [part.strip().strip('"') for part in path.split(",") if part.strip()]
    named = [user if entry == "$user" else entry for entry in entries]
    if wanted in named:
        return wanted
    if not named:
        raise Refused("the connection's search_path is empty: name Summit's schema in DATABASE_URL")
    return named[0]


def _tables(connection: Connection, schema: str) -> list[str]:
    query = text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY tablename")
    return list(connection.execute(query, {"s": schema}).scalars())


def _counts(connection: Connection, schema: str) -> dict[str, int]:
    return {
        name: connection.execute(text(f'SELECT count(*) FROM "{schema}"."{name}"')).scalar_one()  # noqa: S608
        for name in _tables(connection, schema)
    }


def _revisions(connection: Connection, schema: str, tables: dict[str, int]) -> list[str]:
    if VERSIONS not in tables:
        return []
    query = text(f'SELECT version_num FROM "{schema}".{VERSIONS}')  # noqa: S608
    return sorted(connection.execute(query).scalars())


def counts(url: str, schema: str | None = None) -> dict[str, int]:
    with _connect(url) as connection:
        return _counts(connection, schema or _schema(connection))


def live_tables(url: str) -> dict[str, int]:
    """Tables of Summit's schema holding rows (Alembic's own aside)."""
    found = counts(url)
    return {name: rows for name, rows in found.items() if rows and name != VERSIONS}


def restore(*, url: str, payload: Path, manifest: Manifest) -> None:
    info, env = _conninfo(url)
    with _connect(url) as connection:
        schema = _schema(connection, manifest.schema)
    if schema != manifest.schema:
        raise Refused(
            f"the backup holds the schema {manifest.schema!r}, and DATABASE_URL's search_path "
            f"uses {schema!r}: restore into a database whose search_path starts with "
            f"{manifest.schema!r}"
        )
    pg_restore, psql = _tool("pg_restore"), _tool("psql")
    with tempfile.TemporaryFile() as errors:
        loader = subprocess.Popen(  # noqa: S603 - our own argument list, no shell
            [psql, "--no-psqlrc", "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1",
             "--file=-", f"--dbname={info}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors, env=env,
        )  # fmt: skip
        assert loader.stdin is not None
        try:
            _feed(loader.stdin, pg_restore, payload, manifest, env, schema)
        except (BrokenPipeError, Corrupt) as exc:
            # psql commits what it was given when its input ends: end it first,
            # so that the connection drops and the transaction rolls back.
            loader.kill()
            loader.wait(timeout=TIMEOUT)
            raise Corrupt(
                f"the restore failed and was rolled back: {_said(errors) or exc}"
            ) from None
        finally:
            loader.stdin.close()
        if loader.wait(timeout=TIMEOUT) != 0:
            raise Corrupt(f"the restore failed and was rolled back: {_said(errors)}")


def _said(errors: IO[bytes]) -> str:
    errors.seek(0)
    lines = errors.read().decode(errors="replace").strip().splitlines()
    return " / ".join(lines[-3:])


def _feed(
    into: IO[bytes], pg_restore: str, payload: Path, manifest: Manifest, env: dict[str, str],
    schema: str,
) -> None:  # fmt: skip
    """The script psql runs in one transaction: drop, the dump's definitions,
    the extensions it needs, its data, then its indexes, keys and triggers."""
    into.write(
        f'SET client_min_messages = warning;\nDROP SCHEMA IF EXISTS "{schema}" CASCADE;\n'.encode()
    )
    into.flush()
    _restore_section(into, pg_restore, payload, env, ["--section=pre-data"])
    for name, where in manifest.extensions:
        into.write(f'CREATE EXTENSION IF NOT EXISTS "{name}" SCHEMA "{where}";\n'.encode())
    into.flush()
    _restore_section(into, pg_restore, payload, env, ["--section=data", "--section=post-data"])


def _restore_section(
    into: IO[bytes], pg_restore: str, payload: Path, env: dict[str, str], sections: list[str]
) -> None:
    _run([pg_restore, "--no-owner", "--no-privileges", *sections, "--file=-", str(payload)],
         env=env, doing="pg_restore", stdout=into)  # fmt: skip


def _run(
    argv: list[str], *, env: dict[str, str], doing: str, stdout: IO[bytes] | None = None
) -> None:
    done = subprocess.run(  # noqa: S603 - our own argument list, no shell
        argv, env=env, stdout=stdout, stderr=subprocess.PIPE, timeout=TIMEOUT, check=False
    )
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise Corrupt(f"{doing} failed: {' / '.join(said[-3:]) or f'exit {done.returncode}'}")
