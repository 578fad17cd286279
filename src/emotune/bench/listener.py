"""``make bench``'s listener section: a session-driver step with a long listener history, and the store's growth.

A fresh SQLite store gets a listener with ``listener.plays`` plays (sessions of 25 songs, a mood trace at 1 Hz over
every play, a like or skip every few songs, and the preferences those taught, folded as a session end folds them).
Then one session of ``listener.session_s`` seconds runs through the session driver, a reading a second (each one a
committed trace point: the most writing a session does) and a feedback event every ``listener.feedback_every_s``:
the median and 95th percentile time per input line, the session's start (loading the history), and the store's
growth per hour of session. Alone: ``python -m emotune.bench.listener [key=value ...]`` (``conf/bench.yaml``).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from sqlalchemy import insert

from emotune.pipeline.matcher import SongMatcher
from emotune.runtime.cli_config import instantiate
from emotune.runtime.compose import compose_config
from emotune.runtime.listening import fold_evidence
from emotune.runtime.session_driver import SessionDriver
from emotune.store import ListenerStore
from emotune.store.schema import FeedbackRecord, Listener, PlayRecord, SessionRecord, TraceRecord, utcnow
from emotune.utils.command import command
from emotune.utils.io import write_json_atomic


def _size(path: Path) -> int:
    return sum(
        p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file() and not p.name.endswith(".lock")
    )


def fill_history(store: ListenerStore, m: SongMatcher, name: str, plays: int, seed: int) -> dict[str, int]:
    """A listener with ``plays`` plays over sessions of 25 songs (30 s each, traced at 1 Hz), feedback on every 4th
    song, and the preferences all of it taught."""
    rng = np.random.default_rng(seed)
    ids = m.song_ids
    per = 25
    n_sessions = -(-plays // per)
    start = utcnow() - timedelta(days=n_sessions)
    with store.engine.begin() as conn:
        lid = conn.execute(insert(Listener).returning(Listener.id),
                           {"name": name, "created_at": start, "prefs_version": 0}).scalar_one()  # fmt: skip
        sessions = [{"listener_id": lid, "started_at": start + timedelta(days=i), "ended_at": start + timedelta(days=i),
                     "heartbeat_at": start + timedelta(days=i), "source": "driver", "mode": "validate",
                     "model_set": None, "catalogue": m.catalog.name, "catalogue_fingerprint": m.catalog.fingerprint(),
                     "finished": True, "learned": False, "summary": None, "run_dir": None}
                    for i in range(n_sessions)]  # fmt: skip
        sids = [r for (r,) in conn.execute(insert(SessionRecord).returning(SessionRecord.id), sessions).all()]
        play_rows, trace_rows, fb_rows = [], [], []
        for k in range(plays):
            sid, j = sids[k // per], k % per
            mood = rng.uniform(-0.8, 0.8, 2)
            song = str(ids[rng.integers(len(ids))])
            t0 = 30.0 * j
            ended = "skipped" if k % 8 == 3 else "dwell_over"
            play_rows.append({"session_id": sid, "song_id": song, "start_s": t0, "end_s": t0 + 30.0, "ended": ended,
                              "why": json.dumps({"mode": "validate"}), "mood_start_v": mood[0], "mood_start_a": mood[1],
                              "mood_end_v": mood[0], "mood_end_a": mood[1], "goal_v": None, "goal_a": None})  # fmt: skip
            trace_rows += [{"session_id": sid, "t_s": t0 + s, "valence": mood[0], "arousal": mood[1], "sigma_v": 0.1,
                            "sigma_a": 0.1, "face": True} for s in range(30)]  # fmt: skip
            if k % 4 == 3:
                fb_rows.append({"listener_id": lid, "session_id": sid, "song_id": song, "t_s": t0 + 10,
                                "event": "skip" if ended == "skipped" else "like", "valence": mood[0],
                                "arousal": mood[1], "at": utcnow(), "undone": False})  # fmt: skip
        conn.execute(insert(PlayRecord), play_rows)
        conn.execute(insert(TraceRecord), trace_rows)
        conn.execute(insert(FeedbackRecord), fb_rows)
    features = m.song_features()
    store.fold(lid, sids, lambda rows, ev: fold_evidence(m.personal, features, rows, ev))
    return {"sessions": len(sids), "plays": len(play_rows), "trace": len(trace_rows), "feedback": len(fb_rows),
            "preferences": len(store.preferences(lid))}  # fmt: skip


def listener(cfg: DictConfig) -> dict[str, Any]:
    """The section (see the module docstring)."""
    c = cfg.listener
    out = Path(cfg.out) / "listener"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    db = out / "store.sqlite"
    icfg = compose_config("infer", ["video=x", f"store.url=sqlite:///{db}", f"paths.cache_dir={out / 'cache'}",
                                    *c.infer], out)  # fmt: skip
    stabilizer, matcher = instantiate(icfg.stabilizer), instantiate(icfg.matcher)
    store = ListenerStore.open(instantiate(icfg.store))
    t0 = time.perf_counter()
    history = fill_history(store, matcher, "bench", int(c.plays), 0)
    fill_s = time.perf_counter() - t0
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _size(db)
    t0 = time.perf_counter()
    driver = SessionDriver(stabilizer, matcher, store, "bench", source="bench")
    start_ms = 1e3 * (time.perf_counter() - t0)
    rng = np.random.default_rng(1)
    mood = rng.uniform(-0.5, 0.5, 2)
    times = []
    for t in range(int(c.session_s)):
        mood = np.clip(mood + rng.normal(0, 0.03, 2), -1, 1)
        line = json.dumps({"t": float(t), "valence": float(mood[0]), "arousal": float(mood[1]), "sigma": [0.1, 0.1]})
        lines = [line]
        if t and t % int(c.feedback_every_s) == 0:
            lines.append(json.dumps({"t": float(t), "event": ("skip", "like", "dislike")[(t // 60) % 3]}))
        for x in lines:
            s = time.perf_counter()
            answer = driver.handle(x)
            times.append(time.perf_counter() - s)
            assert "error" not in answer, answer
    t0 = time.perf_counter()
    summary = driver.end()["summary"]
    end_ms = 1e3 * (time.perf_counter() - t0)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    grown = _size(db) - before
    store.close()
    ms = 1e3 * np.asarray(times)
    return {
        "history": history,
        "history_build_s": round(fill_s, 1),
        "session_lines": len(ms),
        "session_start_ms": round(start_ms, 1),
        "step_ms_median": round(float(np.median(ms)), 3),
        "step_ms_p95": round(float(np.percentile(ms, 95)), 3),
        "step_ms_max": round(float(ms.max()), 1),
        "session_end_ms": round(end_ms, 1),
        "songs": len(summary["songs"]),
        "store_mb_per_hour": round(grown / 1e6 * 3600.0 / float(c.session_s), 3),
        "store_mb_total": round(_size(db) / 1e6, 1),
        "catalogue_songs": len(matcher.catalog),
    }


ABOUT = (
    "python -m emotune.bench.listener [key=value ...]: the listener section of make bench alone -> out/listener.json"
)


@command("bench", overrides=("hydra.job.name=bench.listener", f"hydra.help.header='{ABOUT}'"))
def main(cfg: DictConfig) -> None:
    """This section alone: ``python -m emotune.bench.listener [key=value ...]`` (``conf/bench.yaml``) ->
    ``<out>/listener.json``."""
    res = listener(cfg)
    write_json_atomic(Path(cfg.out) / "listener.json", res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
