"""The listener store: migrations, refusing what it cannot use (without touching it), concurrent writers, Forget me."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from emotune.store import ListenerStore, StoreError, StoreSettings
from emotune.store.engine import MIGRATIONS, open_engine
from emotune.store.schema import Base

from .conftest import ROOT

POSTGRES = os.environ.get("EMOTUNE_TEST_POSTGRES_URL")


def settings(url: str, stale_after_s: float = 120.0) -> StoreSettings:
    return StoreSettings(url=url, busy_timeout_s=10.0, trace_every_s=1.0, stale_after_s=stale_after_s)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def fill(store: ListenerStore, name: str = "ana", song: str = "s-4711") -> tuple[int, int]:
    lid = store.listener_id(name, create=True)
    assert lid is not None
    sid = store.start_session(lid, source="driver", mode="guide", model_set=None, catalogue="c", fingerprint="f")
    for t in range(5):
        store.add_trace(sid, float(t), (0.1 * t, -0.2), (0.05, 0.05), True)
    pid = store.start_play(sid, song, 0.0, {"step": "guide 1/3"}, (0.0, -0.2), (0.4, -0.4))
    store.end_play(pid, 4.0, "skipped", (0.4, -0.2))
    store.add_feedback(lid, sid, song, "dislike", 4.0, (0.4, -0.2))
    store.fold(lid, [sid], lambda rows, ev: [("taste", f"song:{song}", -0.7, 0.2, 1.0)])
    return lid, sid


def test_a_new_store_is_created_migrated_and_reopened(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "sub" / "store.sqlite")
    store = ListenerStore.open(settings(url))
    lid, _ = fill(store)
    store.close()
    again = ListenerStore.open(settings(url))
    assert again.listener_id("ana", create=False) == lid and again.banned(lid) == {"s-4711"}
    assert again.preferences(lid) == [("taste", "song:s-4711", -0.7, 0.2, 1.0)]
    assert again.count(lid) == {"listeners": 1, "sessions": 1, "trace": 5, "plays": 1, "feedback": 1, "preferences": 1}
    with sqlite3.connect(tmp_path / "sub" / "store.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


def test_the_migrations_build_exactly_the_orm_schema(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = open_engine(sqlite_url(tmp_path / "s.sqlite"), 5.0)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], diff


def test_a_store_of_this_version_opens_in_the_next(tmp_path: Path) -> None:
    """The next emotune adds a migration; a store written now upgrades and keeps its rows."""
    url = sqlite_url(tmp_path / "s.sqlite")
    store = ListenerStore.open(settings(url))
    fill(store)
    store.close()
    nxt = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, nxt, ignore=shutil.ignore_patterns("__pycache__"))
    (nxt / "versions" / "0002_next.py").write_text(
        '"""next"""\nimport sqlalchemy as sa\nfrom alembic import op\n\nrevision = "0002_next"\n'
        'down_revision = "0001_listener_store"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n"
        '    with op.batch_alter_table("listeners") as b:\n'
        '        b.add_column(sa.Column("nickname", sa.String, nullable=True))\n\n\n'
        "def downgrade() -> None:\n    pass\n"
    )
    engine = open_engine(url, 5.0, migrations=nxt)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002_next"
        assert conn.execute(text("SELECT name, nickname FROM listeners")).all() == [("ana", None)]
        assert conn.execute(text("SELECT count(*) FROM trace")).scalar() == 5
    engine.dispose()
    # ... and this version refuses the upgraded store, leaving it as it is
    before = (tmp_path / "s.sqlite").read_bytes()
    with pytest.raises(StoreError, match="unknown to this emotune"):
        ListenerStore.open(settings(url))
    assert (tmp_path / "s.sqlite").read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [b"name,valence\nana,0.3\n" * 50, bytes(range(256)) * 16, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["text", "binary", "corrupt-sqlite"],
)
def test_a_file_that_is_not_a_database_gets_one_error_and_is_not_touched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError) as err:
        ListenerStore.open(settings(sqlite_url(path)))
    assert "store.url=" in str(err.value) and "\n" not in str(err.value)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite"]  # no -wal, -shm or .lock beside it


def test_another_programs_database_is_refused_and_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER, owner TEXT)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="another program's database"):
        ListenerStore.open(settings(sqlite_url(path)))
    assert path.read_bytes() == before


def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "x.sqlite"
    bad.write_text("not a database\n" * 20)
    env = {**os.environ, "EMOTUNE_ROOT": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "emotune.history", "listener=ana", f"store.url=sqlite:///{bad}"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)  # fmt: skip
    assert r.returncode == 2 and r.stdout == "", r
    assert r.stderr.startswith("error: store.url=") and r.stderr.count("\n") == 1, r.stderr


def test_forget_me_leaves_nothing_of_the_listener(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = ListenerStore.open(settings(sqlite_url(path)))
    lid, _ = fill(store, "zoe-forgettable", "song-zoe-only")
    other, _ = fill(store, "bob", "song-bob")
    store.forget(lid)
    assert not any(store.count(lid).values())
    assert store.count(other)["trace"] == 5 and store.listener_names() == ["bob"]
    store.close()
    for f in tmp_path.iterdir():  # not in the database file, its write-ahead log or its free pages
        data = f.read_bytes()
        assert b"zoe-forgettable" not in data and b"song-zoe-only" not in data, f.name


def test_two_writers_of_one_listener_at_once_lose_nothing(tmp_path: Path) -> None:
    """Two processes write sessions of the same listener at once, and fold them: every row arrives, both folds count."""
    url = sqlite_url(tmp_path / "s.sqlite")
    ListenerStore.open(settings(url)).close()
    script = (
        "import sys\nfrom emotune.store import ListenerStore, StoreSettings\n"
        f"s = ListenerStore.open(StoreSettings(url={url!r}, busy_timeout_s=30, trace_every_s=1, stale_after_s=60))\n"
        "lid = s.listener_id('ana', create=True)\n"
        "sid = s.start_session(lid, source='driver', mode='validate', model_set=None, catalogue='c', fingerprint='f')\n"
        "for t in range(150):\n"
        "    s.add_trace(sid, float(t), (0.0, 0.0), None, True)\n"
        "    if t % 10 == 0:\n"
        "        s.add_feedback(lid, sid, f'{sys.argv[1]}-{t}', 'like', float(t), (0.0, 0.0))\n"
        "def fold(rows, ev):\n"
        "    n = dict((f, n) for m, f, mu, v, n in rows).get('count', 0.0)\n"
        "    return [('taste', 'count', 0.0, 1.0, n + sum(len(e.feedback) for e in ev))]\n"
        "s.fold(lid, [sid], fold)\n"
    )
    env = {**os.environ, "EMOTUNE_ROOT": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", script, tag], env=env, cwd=ROOT) for tag in ("a", "b")]
    assert [p.wait(180) for p in procs] == [0, 0]
    store = ListenerStore.open(settings(url))
    lid = store.listener_id("ana", create=False)
    assert lid is not None
    counts = store.count(lid)
    assert counts["sessions"] == 2 and counts["trace"] == 300 and counts["feedback"] == 30
    assert store.preferences(lid) == [("taste", "count", 0.0, 1.0, 30.0)]  # neither fold lost the other's
    store.close()


def test_stale_sessions_are_those_killed(tmp_path: Path) -> None:
    store = ListenerStore.open(settings(sqlite_url(tmp_path / "s.sqlite"), stale_after_s=0.05))
    lid, _ = fill(store)
    open_sid = store.start_session(
        lid, source="driver", mode="validate", model_set=None, catalogue="c", fingerprint="f"
    )
    import time

    time.sleep(0.1)
    assert store.stale_sessions(lid) == [open_sid]  # the finished-and-learned one is not
    store.close()


@pytest.mark.skipif(POSTGRES is None, reason="no PostgreSQL server: set EMOTUNE_TEST_POSTGRES_URL (.ci/run starts one)")
def test_the_same_store_on_postgresql() -> None:
    """Against a real server: migrate, write, read, refuse an unknown version, forget; in a schema of its own."""
    assert POSTGRES is not None
    schema = f"emotune_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in POSTGRES else "?"
    url = f"{POSTGRES}{sep}options=-csearch_path%3D{schema}"
    try:
        store = ListenerStore.open(settings(url))
        lid, _ = fill(store)
        assert store.banned(lid) == {"s-4711"} and store.count(lid)["trace"] == 5
        assert store.preferences(lid) == [("taste", "song:s-4711", -0.7, 0.2, 1.0)]
        store.forget(lid)
        assert not any(store.count(lid).values())
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
        store.close()
        with pytest.raises(StoreError, match="unknown to this emotune"):
            ListenerStore.open(settings(url))
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
