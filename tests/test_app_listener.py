"""The page's listener without a browser: feedback on the manual mood, the webcam and a clip's playlist; the History
tab's actions (the picture, undo, export, Forget me)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emotune.app.handlers import Handlers
from emotune.app.history import HistoryPage
from emotune.app.settings import RunChoice
from emotune.utils.errors import DataError

from .test_app import app_settings, engine  # noqa: F401 (the module's chain pool)


@pytest.fixture
def handlers(tmp_path: Path, trained: dict[str, Path], engine) -> Handlers:  # noqa: F811
    s = app_settings(tmp_path, f"models.default={trained['dir']}", "server.preload=false",
                     f"store.url=sqlite:///{tmp_path / 'store.sqlite'}", infer=engine.base, players=2)  # fmt: skip
    return Handlers(s, engine)


@pytest.fixture
def choice(trained: dict[str, Path]) -> RunChoice:
    return RunChoice(str(trained["dir"]), "synthetic", "", "validate", "ema")


def song_of(html: str | None) -> str:
    assert html is not None and 'data-song="' in html, html
    return html.split('data-song="', 1)[1].split('"', 1)[0]


def test_manual_mood_feedback_switches_and_is_kept(handlers: Handlers, choice: RunChoice) -> None:
    r = handlers.manual(-0.6, 0.6, choice, "browser-1", "ana")
    assert r.ok and r.table is not None and len(r.table) >= 1, r.status
    first = song_of(r.now_playing)
    assert r.table.iloc[0]["song"] and first  # the preview's first song plays now
    html, status = handlers.feedback("skip", "browser-1")
    assert "Skip" in status and song_of(html) != first
    html, status = handlers.feedback("like", "browser-1")
    liked = song_of(html)
    handlers.feedback("dislike", "browser-1")
    handlers.close_session("browser-1")  # the tab closed: the manual session is finished and learned
    page = HistoryPage(handlers.desk, handlers.s.runs_dir)
    view = page.show("ana")
    assert view.figure is not None and len(view.sessions) == 1 and bool(view.sessions["finished"].iloc[0])
    events = sorted(view.opinions["event"])
    assert events == ["dislike", "like"] and liked in set(view.opinions["song_id"])
    # undo the dislike: it leaves the list
    dislike = next(c for c in view.opinion_choices if "dislike" in c)
    after = page.undo("ana", dislike)
    assert list(after.opinions["event"]) == ["like"] and "Undone" in after.status


def test_no_listener_feedback_still_switches_and_keeps_nothing(handlers: Handlers, choice: RunChoice) -> None:
    r = handlers.manual(0.5, 0.5, choice, "b2", "")
    first = song_of(r.now_playing)
    html, _ = handlers.feedback("skip", "b2")
    assert song_of(html) != first
    handlers.close_session("b2")
    assert handlers.desk.store.listener_names() == []
    assert "nothing is playing" in handlers.feedback("like", "b2")[1]


def test_webcam_feedback_acts_on_the_live_song(handlers: Handlers, choice: RunChoice) -> None:
    rng = np.random.default_rng(0)
    for _ in range(4):
        handlers.live_frame(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), choice, "cam", "bea")
    before = handlers._live["cam"].pipeline.matcher.current
    assert before is not None
    html, status = handlers.feedback("skip", "cam")
    assert "webcam" in status and song_of(html) != before.song_id
    end = handlers.live_end("cam")
    assert end.ok, end.status
    data = HistoryPage(handlers.desk, handlers.s.runs_dir).show("bea")
    assert len(data.sessions) == 1 and data.sessions["skips"].iloc[0] == 1


def test_a_clips_playlist_takes_feedback_and_forget_me_leaves_nothing(
    handlers: Handlers, choice: RunChoice, synth_root: Path
) -> None:
    r = handlers.analyse(str(synth_root / "videos" / "clip.mp4"), choice, False, "c1", None, "cleo")
    assert r.ok, r.status
    assert r.feedback_songs and r.run_dir is not None
    _, status = handlers.feedback("dislike", "c1", r.feedback_songs[0])
    assert "kept for cleo" in status
    page = HistoryPage(handlers.desk, handlers.s.runs_dir)
    view = page.show("cleo")
    assert list(view.opinions["event"]) == ["dislike"]
    lid = handlers.desk.store.listener_id("cleo", create=False)
    assert lid is not None and handlers.desk.store.preferences(lid)  # learned at once
    path, _ = page.export("cleo", "json")
    data = json.loads(path.read_text())
    assert data["listener"] == "cleo" and set(data["sessions"][0]) >= {"id", "start", "end", "finished", "mode",
                                                                      "plays", "feedback", "trace"}  # fmt: skip
    csv, _ = page.export("cleo", "csv")
    assert csv.read_text().startswith("listener,session")
    with pytest.raises(DataError, match="I understand"):
        page.forget("cleo", False)
    message = page.forget("cleo", True)
    assert "nothing of them is left" in message
    assert not any(handlers.desk.store.count(lid).values())
    assert not r.run_dir.exists() and not path.exists()  # its run folder and its exports went too
    with pytest.raises(DataError, match="no history"):
        page.show("cleo")
