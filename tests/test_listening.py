"""The listener side of ``infer.py``: a webcam session kept for a listener, the live window's feedback keys, and the
fold of a killed session's evidence at the listener's next start."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotune.runtime.infer import infer
from emotune.runtime.listening import Listening, open_listening, response_per_min
from emotune.store import ListenerStore, StoreSettings
from emotune.store.history import export_listener

from .conftest import FakeWebcam, infer_overrides
from .test_personal import matcher, tagged_catalog


def settings(tmp: Path, stale_after_s: float = 120.0) -> StoreSettings:
    return StoreSettings(url=f"sqlite:///{tmp / 'store.sqlite'}", busy_timeout_s=10, trace_every_s=1.0,
                         stale_after_s=stale_after_s)  # fmt: skip


def test_the_webcam_window_keys_skip_like_and_dislike(make_cfg, trained, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    keys = iter([-1] * 6 + [ord("s")] + [-1] + [ord("l")] + [-1] + [ord("d")] + [-1] * 3 + [ord("q")])
    monkeypatch.setattr(cv2, "imshow", lambda title, img: None)
    monkeypatch.setattr(cv2, "waitKey", lambda ms: next(keys, -1))
    monkeypatch.setattr(cv2, "destroyWindow", lambda title: None)
    cfg = make_cfg(*infer_overrides(trained, 0, "display=true", "listener=ana", f"store.url={settings(tmp_path).url}"),
                   config_name="infer")  # fmt: skip
    summary = infer(cfg, capture_factory=FakeWebcam.make(60))
    assert summary["listening"]["skips"] == 1 and summary["listening"]["likes"] == 1
    assert summary["listening"]["dislikes"] == 1
    store = ListenerStore.open(settings(tmp_path))
    lid = store.listener_id("ana", create=False)
    assert lid is not None
    (session,) = export_listener(store, lid)["sessions"]
    assert session["finished"] and session["source"] == "webcam" and len(session["trace"]) >= 3
    assert [f["event"] for f in session["feedback"]] == ["skip", "like", "dislike"]
    assert session["plays"][0]["ended"] == "skipped"
    assert json.loads(json.dumps(session["summary"]))["listening"]["session"] == session["id"]
    store.close()


def test_without_a_listener_nothing_is_kept(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("video=0", f"store.url={settings(tmp_path).url}", config_name="infer")
    m = matcher(tagged_catalog())
    lst = open_listening(cfg, m, 0, tmp_path)
    m.reset()
    m.update(0.0, np.zeros(2))
    lst.after_update(0.0, np.zeros(2), None, True)
    lst.feedback(1.0, "skip")  # a skip still switches
    assert len(m.playlist) == 2 and lst.session_id is None and m.ranker is None
    lst.finish({})
    assert not (tmp_path / "store.sqlite").exists()


def test_a_killed_sessions_evidence_is_learned_at_the_next_start(tmp_path: Path) -> None:
    m = matcher(tagged_catalog())
    store = ListenerStore.open(settings(tmp_path, stale_after_s=0.01))
    m.reset()
    first = Listening(m, store, "ana", source="driver")
    for t in range(60):
        m.update(float(t), np.array([0.2, 0.2]))
        first.after_update(float(t), np.array([0.2, 0.2]), None, True)
    first.feedback(30.0, "like")
    first.close()  # killed: never finished, never learned
    lid = first.listener_id
    assert lid is not None
    learned_live = store.preferences(lid)
    time.sleep(0.05)  # past stale_after_s
    m.reset()
    second = Listening(m, store, "ana", source="driver")  # starts after stale_after_s: folds the first
    rows = store.preferences(lid)
    assert not learned_live and rows and any(f.startswith("song:") and mu > 0 for _, f, mu, _, _ in rows)
    assert second.ranker is not None and not second.ranker.cold
    data = export_listener(store, lid)["sessions"]
    assert [s["finished"] for s in data] == [False, False]  # the killed one stays unfinished, the new one is running
    store.close()


def test_the_measured_response() -> None:
    assert response_per_min((0.0, 0.5), (0.0, 0.0), (0.0, -0.5), 30.0) == pytest.approx(1.0)
    assert response_per_min((0.0, 0.0), (0.0, 0.5), (0.0, -0.5), 60.0) == pytest.approx(-0.5)
    assert response_per_min((0.0, None), (0.0, 0.0), (0.0, -0.5), 30.0) is None
