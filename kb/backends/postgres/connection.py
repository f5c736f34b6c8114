"""Connections: one pool of read-only REPEATABLE READ connections per database address and
process (the app opens the backend on every page; they all share it), and plain connections
for the writer. Errors become one line for people."""
from __future__ import annotations

import functools
import logging
import struct
import threading
from contextlib import contextmanager

import numpy as np

from ...errors import KBError

POOL_MAX = 16  # per process: one per concurrent question is plenty
_pools: dict[str, object] = {}
_pools_lock = threading.Lock()


# pgvector's largest ef_search. Its graph (m 32, ef_construction 200) at a million synthetic passages
# kept 0.97-0.98 of the exact top 10 at 512, where FAISS's kept 0.996; 1000 keeps 0.998 for 10-30 ms
# more per search (docs/deploy.md, "A million passages on PostgreSQL, measured whole").
PG_EF_SEARCH = 1000


def _psycopg():
    try:
        import psycopg
        import pgvector.psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise KBError("The PostgreSQL backend needs its drivers: run `pip install 'iecmh-kb[postgres]'` "
                      "(psycopg, psycopg-pool, pgvector).") from None
    return psycopg


def redact(url: str) -> str:
    """The address without its password, for messages."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except Exception:
        return "(unparsable database address)"
    host = info.get("host") or "localhost"
    port = f":{info['port']}" if info.get("port") else ""
    user = f"{info['user']}@" if info.get("user") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname', '')}"


def connect(url: str, autocommit: bool = False):
    psycopg = _psycopg()
    return psycopg.connect(url, autocommit=autocommit, connect_timeout=10, application_name="iecmh-kb")


INT8_ARRAY_OID = 1016


class Int8Array:
    """Ids already in PostgreSQL's binary int8[] form. A filter's ids (~17,000 at 100k
    passages) go with every filtered dense search; as text the server parses them each time
    (~1 ms more per search, measured)."""

    def __init__(self, ids):
        body = np.empty(len(ids), dtype=[("length", ">i4"), ("value", ">i8")])
        body["length"], body["value"] = 8, ids
        header = struct.pack(">iiiii", 1, 0, 20, len(ids), 1) if len(ids) else struct.pack(">iii", 0, 0, 20)
        self.data = header + body.tobytes()  # dimensions, no nulls, int8 elements; (length, value) each


@functools.cache
def _int8_array_dumper():
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class Int8ArrayDumper(Dumper):
        format = Format.BINARY
        oid = INT8_ARRAY_OID

        def dump(self, obj: Int8Array) -> bytes:
            return obj.data

    return Int8ArrayDumper


def _configure_reader(conn) -> None:
    from psycopg import IsolationLevel

    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    # Questions are short queries: compiling one with LLVM (PostgreSQL's JIT, which the BM25
    # aggregation's cost estimate can trigger) costs more than it saves.
    conn.execute("SET jit = off")
    # The HNSW search breadth for the connection's life, not a SET LOCAL (one more round trip) per
    # search; a placeholder until pgvector loads in this session, which then adopts it.
    conn.execute(f"SET hnsw.ef_search = {PG_EF_SEARCH}")
    conn.commit()
    conn.adapters.register_dumper(Int8Array, _int8_array_dumper())


def pool_for(url: str):
    """The shared pool for `url` (connections made on first use, kept for the process)."""
    _psycopg()
    from psycopg_pool import ConnectionPool

    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            connect(url).close()  # fail now, with the server's reason, rather than retry in the pool's threads
            logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # its retries would print on every attempt
            pool = ConnectionPool(url, min_size=1, max_size=POOL_MAX, configure=_configure_reader, open=True,
                                  kwargs={"connect_timeout": 10, "application_name": "iecmh-kb"}, timeout=30,
                                  name="iecmh-kb-readers")
            _pools[url] = pool
        return pool


def close_pool(url: str) -> None:
    """Close this process's pool for `url` (before dropping that database)."""
    with _pools_lock:
        pool = _pools.pop(url, None)
    if pool is not None:
        pool.close()


@contextmanager
def database_errors(location: str):
    """The driver's failures, as one line saying what to do."""
    import psycopg
    from psycopg_pool import PoolTimeout

    try:
        yield
    except psycopg.errors.DiskFull as exc:
        raise KBError(f"The database server of {location} is out of disk; nothing was changed. Free space on the "
                      "server and run the ingest again.") from exc
    except (psycopg.OperationalError, PoolTimeout) as exc:
        first = (str(exc).strip().splitlines() or ["no detail"])[0][:200]
        raise KBError(f"Cannot reach the PostgreSQL database {location} ({first}). Check KB_DATABASE_URL and that the "
                      "server is running.") from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise KBError(f"The database user may not do this on {location} ({str(exc).splitlines()[0][:160]}); "
                      "`kb ingest` needs a user that owns the knowledge-base tables.") from exc
    except psycopg.DatabaseError as exc:
        raise KBError(f"The database {location} refused a statement ({type(exc).__name__}: "
                      f"{(str(exc).splitlines() or ['no detail'])[0][:160]}).") from exc
