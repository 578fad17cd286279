"""The web page's handlers without a browser: a clip, the webcam, a manual mood, bad inputs, cancel, two users."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest

from emotune.app import engine as engine_mod
from emotune.app.engine import Engine
from emotune.app.handlers import Handlers
from emotune.app.settings import AppSettings, RunChoice, list_model_sets, quote
from emotune.runtime.compose import compose_config
from emotune.utils.errors import ConfigError, DataError, MissingResourceError


def app_settings(tmp: Path, *overrides: str, **fields: object) -> AppSettings:
    cfg = compose_config("app", [f"runs_dir={tmp / 'runs'}", f"cache_dir={tmp / 'gradio'}", *overrides], tmp)
    return dataclasses.replace(AppSettings.from_cfg(cfg), **fields)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, synth_root: Path) -> Engine:
    """One chain pool for the module (the models load once): tiny data, T = 4, 2 s dwell, memory 2."""
    cache = tmp_path_factory.mktemp("app_cache")
    infer = [f"paths.synthetic_dir={synth_root}", f"paths.cache_dir={cache}", "perceive.mc_samples=4",
             "matcher.min_dwell_s=2", "matcher.memory=2"]  # fmt: skip
    return Engine(infer, max_idle=4)


@pytest.fixture
def handlers(tmp_path: Path, trained: dict[str, Path], engine: Engine) -> Handlers:
    """The page's handlers over the tiny checkpoints and the tiny synthetic catalogue (with audio), own run folder."""
    s = app_settings(
        tmp_path,
        f"models.default={trained['dir']}",
        f"models.search={trained['dir'].parent}",
        "server.preload=false",
        infer=engine.base,
        players=3,
    )
    return Handlers(s, engine)


@pytest.fixture
def choice(trained: dict[str, Path]) -> RunChoice:
    return RunChoice(str(trained["dir"]), "synthetic", "", "validate", "ema")


def run_folders(h: Handlers) -> list[Path]:
    return sorted(p for p in h.s.runs_dir.iterdir() if p.name != ".staging")


def staging_left(h: Handlers) -> list[Path]:
    st = h.s.runs_dir / ".staging"
    return [p for p in st.iterdir()] if st.is_dir() else []


# -- settings -----------------------------------------------------------------------------------------------
def test_settings_come_from_app_yaml(tmp_path: Path) -> None:
    s = app_settings(tmp_path, "server.port=8123", "server.max_upload_mb=5")
    assert (s.host, s.port, s.max_upload_bytes) == ("127.0.0.1", 8123, 5_000_000)
    assert s.runs_dir == (tmp_path / "runs").resolve()
    with pytest.raises(ConfigError, match=r"server\.port"):
        app_settings(tmp_path, "server.port=0")
    with pytest.raises(ConfigError, match=r"catalog\.default"):
        app_settings(tmp_path, "catalog.default=spotify")


def test_choice_is_checked_and_quoted(tmp_path: Path, scene_only_set: Path) -> None:
    odd = str(tmp_path / "my songs, 'best'.csv")
    ok = RunChoice(str(scene_only_set), "csv", odd, "guide", "kalman")
    assert "matcher/policy=guide" in ok.overrides() and "stabilizer=kalman" in ok.overrides()
    assert f"catalog.path={quote(odd)}" in ok.overrides()
    with pytest.raises(MissingResourceError, match="catalogue path not found"):
        ok.check()
    with pytest.raises(MissingResourceError, match="model set folder not found"):
        RunChoice(str(tmp_path / "nope"), "synthetic", "", "validate", "ema").check()
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingResourceError, match="holds no scene"):
        RunChoice(str(tmp_path / "empty"), "synthetic", "", "validate", "ema").check()
    with pytest.raises(DataError, match="needs a path"):
        RunChoice(str(scene_only_set), "deam", " ", "validate", "ema").check()
    with pytest.raises(ConfigError, match="stabilizer"):
        RunChoice(str(scene_only_set), "synthetic", "", "validate", "median").check()


def test_model_sets_are_the_folders_with_checkpoints(tmp_path: Path, scene_only_set: Path) -> None:
    (tmp_path / "junk").mkdir()
    found = list_model_sets(scene_only_set.parent)
    assert str(scene_only_set) in found and not any(f.endswith("junk") for f in found)
    assert list_model_sets(tmp_path / "junk", default=str(scene_only_set))[0] == str(scene_only_set)


# -- a clip ------------------------------------------------------------------------------------------------
def test_clip_gives_playlist_audio_video_and_downloads(
    handlers: Handlers, choice: RunChoice, synth_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = []
    real_build = engine_mod.build_pipeline
    monkeypatch.setattr(engine_mod, "build_pipeline", lambda cfg: built.append(cfg) or real_build(cfg))
    handlers.engine = Engine(handlers.engine.base, max_idle=2)  # a fresh pool: count the builds
    seen: list[tuple[float, str]] = []
    r = handlers.analyse(str(synth_root / "videos" / "clip.mp4"), choice, True, "u1", lambda f, d: seen.append((f, d)))
    assert r.ok, r.status
    assert r.run_dir is not None and r.run_dir.parent == handlers.s.runs_dir and not staging_left(handlers)
    # the outputs infer.py writes, plus the annotated video, in the run folder
    for name in ("timeline.csv", "playlist.json", "playlist.m3u", "summary.json", "timeline.png", "annotated.mp4"):
        assert (r.run_dir / name).is_file(), name
    assert r.timeline == r.run_dir / "timeline.png" and r.video == r.run_dir / "annotated.mp4"
    assert [p.name for p in r.downloads] == ["playlist.m3u", "playlist.json", "timeline.csv"]
    songs = json.loads((r.run_dir / "playlist.json").read_text())["songs"]
    assert len(r.table) == len(songs) >= 1 and all(r.table["why"].str.len() > 0)
    assert list(r.table["song"]) == [s.get("title") or f"song {s['song_id']}" for s in songs]
    # every song with audio has a player whose file is a copy inside this run folder
    assert r.audio and all(p.is_file() and p.parent == r.run_dir / "audio" for _, p in r.audio)
    assert len(r.audio) == min(handlers.s.players, len(songs))
    summary = json.loads((r.run_dir / "summary.json").read_text())
    assert Path(summary["video"]).parent == r.run_dir and Path(summary["video"]).is_file()
    assert summary["mode"] == "validate" and summary["stabilizer"] == "EMAStabilizer"
    assert summary["annotated"]["frames"] == 60
    fracs = [f for f, _ in seen]
    assert fracs == sorted(fracs) and fracs[-1] >= 0.9 and any("analysing" in d for _, d in seen)
    assert r.plot is not None and "Mood over the clip" in r.plot.axes[0].get_title()
    # the same settings reuse the built chain: one build for two runs
    r2 = handlers.analyse(str(synth_root / "videos" / "clip.mp4"), choice, False, "u1")
    assert r2.ok and r2.video is None and len(built) == 1 and r2.run_dir != r.run_dir


def test_settings_reach_the_chain(handlers: Handlers, choice: RunChoice, synth_root: Path) -> None:
    guide = dataclasses.replace(choice, mode="guide", stabilizer="kalman")
    r = handlers.analyse(str(synth_root / "videos" / "clip.mp4"), guide, False, "u1")
    assert r.ok, r.status
    assert (r.summary["mode"], r.summary["stabilizer"]) == ("guide", "KalmanStabilizer")
    # a library CSV as the catalogue
    cat = synth_root / "deam"
    songs = pd.DataFrame({"song_id": ["a", "b", "c", "d"], "valence": [2, 8, 2, 8], "arousal": [2, 2, 8, 8]})
    songs.to_csv(cat.parent / "lib.csv", index=False)
    r = handlers.analyse(
        str(synth_root / "videos" / "clip.mp4"), dataclasses.replace(choice, catalog="csv",
        catalog_path=str(cat.parent / "lib.csv")), False, "u1"
    )  # fmt: skip
    assert r.ok, r.status
    assert {s["song_id"] for s in json.loads((r.run_dir / "playlist.json").read_text())["songs"]} <= set("abcd")
    assert r.audio == [] and list(r.table["audio"]) == ["no"] * len(r.table)


def _no_frames_mp4(path: Path) -> Path:
    """An mp4 whose header (moov first) declares 20 frames, cut before any of them: a stream, no frames."""
    full = path.with_suffix(".full.mp4")
    with av.open(str(full), "w", format="mp4", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for i in range(20):
            for p in s.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), 10 * i, np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    data = full.read_bytes()
    path.write_bytes(data[: data.index(b"mdat") + 4])
    return path


BAD_UPLOADS = {
    "none": "no video file",
    "text": "not a video",
    "empty": "empty",
    "large": "over the 0 MB limit",
    "audio": "no video stream",
    "no_frames": "frame",
}


def test_bad_uploads_say_why_and_leave_nothing(
    handlers: Handlers, choice: RunChoice, synth_root: Path, tmp_path: Path
) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    files = {
        "none": None,
        "text": text,
        "empty": empty,
        "large": synth_root / "videos" / "clip.mp4",
        "audio": next((synth_root / "deam").rglob("*.flac")),
        "no_frames": _no_frames_mp4(tmp_path / "noframes.mp4"),
    }
    limit = handlers.s
    for kind, message in BAD_UPLOADS.items():
        handlers.s = dataclasses.replace(limit, max_upload_mb=0.0001) if kind == "large" else limit
        path = files[kind]
        r = handlers.analyse(None if path is None else str(path), choice, True, "u1")
        assert not r.ok and r.status.startswith("**error:**") and message in r.status, (kind, r.status)
        assert run_folders(handlers) == [] and staging_left(handlers) == [], kind
    # the server answers the next upload
    assert handlers.analyse(str(synth_root / "videos" / "clip.mp4"), choice, False, "u1").ok


def test_bad_model_set_is_a_message(handlers: Handlers, choice: RunChoice, synth_root: Path, tmp_path: Path) -> None:
    r = handlers.analyse(str(synth_root / "videos" / "clip.mp4"), dataclasses.replace(choice, models=str(tmp_path)),
                         False, "u1")  # fmt: skip
    assert not r.ok and "holds no scene" in r.status and run_folders(handlers) == []


def test_cancel_removes_the_half_written_run(handlers: Handlers, choice: RunChoice, synth_root: Path) -> None:
    started, cancelled = threading.Event(), threading.Event()

    def progress(frac: float, desc: str) -> None:
        if "analysing" in desc:
            started.set()
            cancelled.wait(10)  # hold the run until cancel was pressed

    out: dict = {}

    def run() -> None:
        out["r"] = handlers.analyse(str(synth_root / "videos" / "clip.mp4"), choice, True, "u1", progress)

    th = threading.Thread(target=run)
    th.start()
    assert started.wait(60)
    assert handlers.cancel("other-user").startswith("Nothing to cancel")
    threading.Timer(0.2, cancelled.set).start()
    msg = handlers.cancel("u1")
    th.join(60)
    assert msg.startswith("**Cancelled**") and out["r"].status.startswith("**Cancelled**") and not out["r"].ok
    assert run_folders(handlers) == [] and staging_left(handlers) == []


def test_two_users_at_once_get_their_own_runs(handlers: Handlers, choice: RunChoice, synth_root: Path) -> None:
    clip = str(synth_root / "videos" / "clip.mp4")
    results: dict[str, object] = {}
    threads = [
        threading.Thread(target=lambda u=u: results.update({u: handlers.analyse(clip, choice, False, u)}))
        for u in ("alice", "bob")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    a, b = results["alice"], results["bob"]
    assert a.ok and b.ok and a.run_dir != b.run_dir
    assert sorted(run_folders(handlers)) == sorted([a.run_dir, b.run_dir])
    assert "clip" not in a.run_dir.name  # never the uploaded file's name


# -- the webcam --------------------------------------------------------------------------------------------
def _frames(clip: Path, n: int) -> list[np.ndarray]:
    cap, out = cv2.VideoCapture(str(clip)), []
    while len(out) < n:
        ok, f = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    return out


def test_webcam_frames_update_the_mood_then_end_in_a_playlist(
    handlers: Handlers, choice: RunChoice, synth_root: Path
) -> None:
    frames = _frames(synth_root / "videos" / "clip.mp4", 10)
    html, img = handlers.live_frame(None, choice, "cam")
    assert "Waiting" in html and img is None
    counts = []
    for f in frames:
        html, img = handlers.live_frame(f, choice, "cam")
        assert "Mood" in html and "Now playing" in html, html
        assert img.shape == f.shape and not np.array_equal(img, f)  # the overlay is drawn
        counts.append(int(html.split('data-update="')[1].split('"')[0]))
    assert counts == list(range(1, len(frames) + 1))
    other, _ = handlers.live_frame(frames[0], choice, "cam-2")  # another browser: its own session
    assert 'data-update="1"' in other
    r = handlers.live_end("cam")
    assert r.ok, r.status
    assert len(pd.read_csv(r.run_dir / "timeline.csv")) == len(frames) and r.timeline is not None
    assert r.video is None and [p.name for p in r.downloads] == ["playlist.m3u", "playlist.json", "timeline.csv"]
    assert handlers.live_end("cam").status.startswith("Nothing to end")
    handlers.close_session("cam-2")
    assert handlers.engine.pool.idle() >= 2  # both chains given back


def test_webcam_with_a_bad_model_set_says_so(handlers: Handlers, choice: RunChoice, tmp_path: Path) -> None:
    html, img = handlers.live_frame(np.zeros((48, 64, 3), np.uint8), dataclasses.replace(choice, models="/nope"), "c")
    assert "error:" in html and "model set folder not found" in html and img is None


# -- a manual mood ------------------------------------------------------------------------------------------
def test_manual_mood_drives_match(handlers: Handlers, choice: RunChoice) -> None:
    happy = handlers.manual(0.8, 0.6, choice)
    sad = handlers.manual(-0.8, -0.6, choice)
    assert happy.ok and sad.ok, (happy.status, sad.status)
    hs = json.loads((happy.run_dir / "playlist.json").read_text())["songs"]
    ss = json.loads((sad.run_dir / "playlist.json").read_text())["songs"]
    assert hs[0]["song_id"] != ss[0]["song_id"]
    assert hs[0]["valence"] > ss[0]["valence"] and hs[0]["arousal"] > ss[0]["arousal"]  # DEAM 1-9 scale
    assert happy.audio and happy.table is not None and "Manual mood" in happy.status
    guide = handlers.manual(-0.7, 0.7, dataclasses.replace(choice, mode="guide"))  # distress: calm it down
    gs = json.loads((guide.run_dir / "playlist.json").read_text())["songs"]
    assert guide.ok and len(gs) >= 2 and gs[-1]["arousal"] < gs[0]["arousal"]
    bad = handlers.manual(2.0, 0.0, choice)
    assert not bad.ok and "[-1, 1]" in bad.status


# -- the page -------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.page
def test_page_serves_and_refuses_other_files(handlers: Handlers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    from emotune.app.ui import build, launch

    handlers.s = dataclasses.replace(handlers.s, port=_free_port())
    demo = build(handlers)
    launch(demo, handlers.s, block=False)
    try:
        base = f"http://127.0.0.1:{handlers.s.port}"
        page = urllib.request.urlopen(base + "/", timeout=30).read().decode()
        assert "emotune" in page
        readme = Path(__file__).resolve().parents[1] / "README.md"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/gradio_api/file={readme}", timeout=30)
        assert err.value.code in (403, 404)
        config = json.loads(urllib.request.urlopen(base + "/config", timeout=30).read())
        ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
        assert {"upload", "analyse", "webcam", "live-mood", "manual-go", "playlist", "timeline", "status"} <= ids
        assert config.get("analytics_enabled") is False
    finally:
        demo.close()
