"""``python -m emotune.session``: the JSON-lines protocol, skips on that very line, no listener = nothing stored and
today's playlist, a dislike never back in a later session, kill -9 keeps the session, two drivers of one listener."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from emotune.data.catalog import write_csv_catalog
from emotune.runtime.session_driver import SessionDriver, build_driver
from emotune.store import ListenerStore

from .conftest import ROOT
from .helpers.configs import build
from .test_personal import tagged_catalog

ENV = {**os.environ, "EMOTUNE_ROOT": str(ROOT)}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv_catalog(tagged_catalog(400, 2), tmp_path_factory.mktemp("cat") / "songs.csv")


def overrides(catalogue: Path, tmp: Path, *extra: str) -> list[str]:
    """The driver on the test catalogue (its stations fitted once, cached beside it) and a store in ``tmp``."""
    return ["catalog=csv", f"catalog.path={catalogue}", f"store.url=sqlite:///{tmp / 'store.sqlite'}",
            f"paths.cache_dir={catalogue.parent / 'cache'}", "matcher.stations.n_components=4", *extra]  # fmt: skip


def readings(n: int, seed: int = 0, start: float = 0.0) -> list[str]:
    rng = np.random.default_rng(seed)
    va = np.clip(np.cumsum(rng.normal(0, 0.04, (n, 2)), 0) + rng.uniform(-0.4, 0.4, 2), -1, 1)
    return [json.dumps({"t": start + i, "valence": float(v), "arousal": float(a)}) for i, (v, a) in enumerate(va)]


def driver(make_cfg, catalogue: Path, tmp: Path, *extra: str) -> SessionDriver:
    return build_driver(make_cfg(*overrides(catalogue, tmp, *extra), "video=none", config_name="infer"))


def test_the_command_answers_every_line_once(catalogue: Path, tmp_path: Path) -> None:
    lines = readings(60)
    lines[30:30] = [json.dumps({"t": 29.0, "event": "skip"}), "not json", json.dumps({"t": 5.0, "valence": 0,
                    "arousal": 0}), json.dumps({"t": 29.0, "valence": 3.0, "arousal": 0}), "[1, 2]",
                    json.dumps({"t": 29.0, "event": "shout"}), ""]  # fmt: skip
    r = subprocess.run([sys.executable, "-m", "emotune.session", *overrides(catalogue, tmp_path), "listener=ana"],
                       input="\n".join(lines) + "\n", capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(out) == len(lines) + 1
    skip_before, skip = out[29], out[30]
    assert skip["switched"] and skip["song_id"] != skip_before["song_id"] and skip["t"] == 29.0
    errors = [o["error"] for o in out[31:37]]
    assert len(errors) == 6 and "goes backwards" in errors[1] and "valence=3.0" in errors[2] and "shout" in errors[4]
    assert all(set(o) == {"t", "song_id", "switched", "why"} for o in out[:30] + out[37:-1])
    assert out[0]["switched"] and "why" in out[0] and out[0]["why"]["mode"] == "validate"
    final = out[-1]
    assert isinstance(final["session"], int) and final["summary"]["skips"] == 1
    assert any(s["ended"] == "skipped" for s in final["summary"]["songs"])
    store = ListenerStore.open(_settings(tmp_path))
    lid = store.listener_id("ana", create=False)
    assert lid is not None and store.count(lid)["trace"] == 60 and store.count(lid)["feedback"] == 1
    store.close()


def _settings(tmp: Path):
    from emotune.store import StoreSettings

    return StoreSettings(url=f"sqlite:///{tmp / 'store.sqlite'}", busy_timeout_s=10, trace_every_s=1, stale_after_s=60)


def test_help_and_cfg_job(catalogue: Path, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "emotune.session", "--help"], capture_output=True, text=True, env=ENV,
                       cwd=ROOT, timeout=60)  # fmt: skip
    assert r.returncode == 0 and "JSON" in r.stdout and "conf/infer" in r.stdout.replace("\\", "/")
    r = subprocess.run([sys.executable, "-m", "emotune.session", "--cfg", "job", "listener=ana"], capture_output=True,
                       text=True, env=ENV, cwd=ROOT, timeout=60)  # fmt: skip
    assert r.returncode == 0 and "listener: ana" in r.stdout and "store:" in r.stdout


def test_no_listener_stores_nothing_and_plays_the_non_personal_playlist(
    make_cfg, catalogue: Path, tmp_path: Path
) -> None:
    lines = readings(300, seed=3)
    d = driver(make_cfg, catalogue, tmp_path)
    answers = [d.handle(x) for x in lines]
    final = d.end()
    assert final["session"] is None and not (tmp_path / "store.sqlite").exists()
    # the same input straight through a matcher and a stabilizer built from the same config, no listener machinery
    m = build("matcher", catalog=tagged_catalog(400, 2), stations={"n_components": 4, "cache_dir": None})
    s = build("stabilizer", "ema")
    m.reset()
    s.reset()
    songs, last = [], None
    for x in lines:
        obj = json.loads(x)
        stab = s.update(
            np.array([obj["valence"], obj["arousal"]]), np.zeros(2), True, 0.25 if last is None else obj["t"] - last
        )
        songs.append(m.update(obj["t"], stab).song_id)
        last = obj["t"]
    assert [a["song_id"] for a in answers] == songs and len(set(songs)) > 3


def test_a_new_listener_hears_todays_playlist_until_the_first_feedback(
    make_cfg, catalogue: Path, tmp_path: Path
) -> None:
    lines = readings(400, seed=5)
    nobody = driver(make_cfg, catalogue, tmp_path)
    plain = [nobody.handle(x)["song_id"] for x in lines]
    nobody.end()
    new = driver(make_cfg, catalogue, tmp_path, "listener=newcomer")
    fed = [new.handle(x)["song_id"] for x in lines[:250]]
    new.handle(json.dumps({"t": 249.0, "event": "like"}))
    fed += [new.handle(x)["song_id"] for x in lines[250:]]
    new.end()
    assert fed[:250] == plain[:250]


def test_a_disliked_song_never_returns_in_later_sessions(make_cfg, catalogue: Path, tmp_path: Path) -> None:
    lines = readings(200, seed=7)
    d = driver(make_cfg, catalogue, tmp_path, "listener=ana")
    first = d.handle(lines[0])["song_id"]
    after = d.handle(json.dumps({"t": 0.0, "event": "dislike"}))
    assert after["switched"] and after["song_id"] != first
    d.end()
    for session in range(3):  # the same moods again: the nearest song would be the disliked one
        d = driver(make_cfg, catalogue, tmp_path, "listener=ana")
        played = {d.handle(x)["song_id"] for x in lines}
        assert first not in played, session
        d.end()
    nobody = driver(make_cfg, catalogue, tmp_path)
    assert nobody.handle(lines[0])["song_id"] == first  # another listener (nobody) still hears it


def test_guide_mode_summary_has_the_guide_block(make_cfg, catalogue: Path, tmp_path: Path) -> None:
    d = driver(make_cfg, catalogue, tmp_path, "matcher/policy=guide", "listener=ana")
    for t in range(240):
        d.handle(
            json.dumps({"t": float(t), "valence": -0.7 + 0.004 * t, "arousal": 0.7 - 0.004 * t, "sigma": [0.1, 0.1]})
        )
    g = d.end()["summary"]["guide"]
    assert g["goal"] == "calm" and g["goal_va_ref"] == [0.4, -0.4] and g["steps_planned"] >= g["steps_done"] >= 1
    assert "time_to_goal_s" in g and "holds" in g


def test_kill_9_keeps_the_session_up_to_its_last_second(catalogue: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "emotune.session", *overrides(catalogue, tmp_path), "listener=ana"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    for x in readings(40):
        proc.stdin.write(x + "\n")
        proc.stdin.flush()
        assert "song_id" in proc.stdout.readline()  # answered: what it stands for is committed
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    store = ListenerStore.open(_settings(tmp_path))
    lid = store.listener_id("ana", create=False)
    assert lid is not None
    counts = store.count(lid)
    assert counts["sessions"] == 1 and counts["trace"] >= 39 and counts["plays"] >= 1
    from emotune.store.history import export_listener

    (session,) = export_listener(store, lid)["sessions"]
    assert session["finished"] is False and session["trace"][-1]["t_s"] >= 38.0
    store.close()


def test_two_drivers_of_one_listener_at_once_lose_no_event(catalogue: Path, tmp_path: Path) -> None:
    def lines(seed: int) -> str:
        out = []
        for i, x in enumerate(readings(120, seed)):
            out.append(x)
            if i % 15 == 14:
                out.append(json.dumps({"t": float(i), "event": ("like", "skip", "dislike")[i // 15 % 3]}))
        return "\n".join(out) + "\n"

    cmd = [sys.executable, "-m", "emotune.session", *overrides(catalogue, tmp_path), "listener=ana"]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True, "env": ENV, "cwd": ROOT}
    procs = [subprocess.Popen(cmd, **pipes) for _ in range(2)]
    time.sleep(0.5)
    outs = [p.communicate(lines(k), timeout=180)[0] for k, p in enumerate(procs)]
    assert all(p.returncode == 0 for p in procs)
    assert all(len(o.splitlines()) == 129 and '"error"' not in o for o in outs)
    store = ListenerStore.open(_settings(tmp_path))
    lid = store.listener_id("ana", create=False)
    assert lid is not None
    counts = store.count(lid)
    assert counts["sessions"] == 2 and counts["feedback"] == 16 and counts["trace"] == 240
    from emotune.store.history import export_listener

    assert all(s["finished"] for s in export_listener(store, lid)["sessions"])
    store.close()
