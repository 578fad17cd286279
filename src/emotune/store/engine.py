"""Opening a store: check what the URL points at, then bring its schema to this version with Alembic.

A store written by this version opens in the next (which upgrades it); a store whose schema version this code does not
know (written by a newer emotune), a database of another program, or a file that is not a database at all gets one
:class:`StoreError` and is left exactly as it was: nothing is written before the checks pass.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from emotune.utils.errors import EmotuneError, check_range
from emotune.utils.io import file_lock

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(EmotuneError):
    """The listener store cannot be used (unknown schema, not a database, unreachable server)."""


class ForeignDatabaseError(StoreError):
    """Tables but no emotune schema version: another program's database (or one being created right now)."""


@dataclass(frozen=True, kw_only=True)
class StoreSettings:
    """``store``: where listeners' sessions are kept and how often the mood is written.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///FILE`` (the default, ``conf/store/sqlite.yaml``) or
            ``postgresql+psycopg://USER:PW@HOST/DB`` (``conf/store/postgres.yaml``).
        busy_timeout_s: how long a writer waits for another (two sessions of one listener at once).
        trace_every_s: the mood trace's period (about 1 Hz: a killed process loses at most this much).
        stale_after_s: an unfinished session with no write for this long was killed: its evidence is learned
            when the listener's next session starts.

    Every field is required: ``conf/store/*.yaml`` is its one home.
    """

    url: str
    busy_timeout_s: float
    trace_every_s: float
    stale_after_s: float

    def __post_init__(self) -> None:
        check_range("store.busy_timeout_s", self.busy_timeout_s, 0.0)
        check_range("store.trace_every_s", self.trace_every_s, 0.0, None, low_inclusive=False)
        check_range("store.stale_after_s", self.stale_after_s, 0.0, None, low_inclusive=False)


def shown(url: str) -> str:
    """``url`` for messages, its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


def _sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///FILE`` URL (``None``: in memory or not SQLite)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _check_sqlite_file(path: Path, url: str) -> None:
    """Refuse a file that is not an SQLite database, before SQLite touches it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if path.is_dir():
        raise StoreError(f"store.url={shown(url)}: {path} is a folder, not a database file; give a file path.")
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head and head != SQLITE_MAGIC:
        raise StoreError(
            f"store.url={shown(url)}: {path} is not an SQLite database (left untouched); point store.url at another file."
        )


def _engine(url: str, busy_timeout_s: float) -> Engine:
    try:
        u = make_url(url)
        sqlite = u.get_backend_name() == "sqlite"
        args: dict[str, Any] = {"timeout": busy_timeout_s, "check_same_thread": False} if sqlite else {}
        if u.get_backend_name() == "postgresql":
            args["connect_timeout"] = max(1, int(busy_timeout_s))
        engine = create_engine(u, connect_args=args, pool_pre_ping=not sqlite)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise StoreError(
            f"store.url={shown(url)!r} is not a usable database URL ({str(exc).splitlines()[0]}); "
            "use sqlite:///FILE or postgresql+psycopg://USER:PASSWORD@HOST/DB."
        ) from None
    if sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA secure_delete=ON")  # Forget me: deleted rows are overwritten, not left in free pages
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL: a killed process loses nothing committed
            cur.close()

    return engine


def _alembic_config(migrations: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    return cfg


@contextlib.contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """Two first opens of one SQLite file at once: one migrates, the other waits (PostgreSQL: env.py's lock)."""
    path = _sqlite_file(url)
    if path is None:
        yield
        return
    with file_lock(path):
        yield


def check_version(engine: Engine, url: str, migrations: Path = MIGRATIONS) -> str | None:
    """The store's schema revision (``None``: an empty database); :class:`StoreError` when this code does not know it
    or the database holds another program's tables."""
    script = ScriptDirectory.from_config(_alembic_config(migrations))
    known = {r.revision for r in script.walk_revisions()}
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        tables = set(inspect(conn).get_table_names())
    if current is None and tables - {"alembic_version"}:
        raise ForeignDatabaseError(
            f"store.url={shown(url)} holds another program's database ({len(tables)} tables, no emotune schema version); "
            "it is left untouched: point store.url at a new file or database."
        )
    if current is not None and current not in known:
        raise StoreError(
            f"store.url={shown(url)} has schema version {current!r}, unknown to this emotune (it knows "
            f"{', '.join(sorted(known))}): it was written by a newer version; upgrade emotune. The store is left untouched."
        )
    return current


def open_engine(url: str, busy_timeout_s: float, migrations: Path = MIGRATIONS) -> Engine:
    """An engine on a checked store whose schema is this version's head (created or upgraded as needed)."""
    path = _sqlite_file(url)
    if path is not None:
        _check_sqlite_file(path, url)
    engine = _engine(url, busy_timeout_s)
    try:
        cfg = _alembic_config(migrations)
        head = ScriptDirectory.from_config(cfg).get_current_head()
        try:
            current = check_version(engine, url, migrations)  # read-only: nothing is written before it passes
        except ForeignDatabaseError:
            current = None  # or another process is creating the store right now: decided under the lock
        if current != head:
            with _migration_lock(url):
                current = check_version(engine, url, migrations)  # another process may have migrated meanwhile
                if current != head:
                    if path is not None:
                        with engine.connect() as conn:
                            conn.exec_driver_sql("PRAGMA journal_mode=WAL")  # kept in the file: readers beside a writer
                    with engine.begin() as conn:
                        cfg.attributes["connection"] = conn
                        command.upgrade(cfg, "head")
                    log.info("Listener store %s: schema %s -> %s", shown(url), current or "new", head)
    except DBAPIError as exc:
        engine.dispose()
        first = str(exc.orig if exc.orig is not None else exc).splitlines()[0]
        raise StoreError(
            f"store.url={shown(url)} cannot be opened ({first}); check the path or the server, or point store.url elsewhere."
        ) from None
    except StoreError:
        engine.dispose()
        raise
    return engine
