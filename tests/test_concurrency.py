"""Concurrent users of the page (issue 32): two clips and a webcam stream at once through the page's engine, as the
page's handlers drive it, give each user what that user gets alone, and leave the process as it was (torch's thread
count, the umask: process-wide state no request may change).

The process is set up as a server's start-up would be (:func:`server_state`): two torch threads and umask 027, so a
request that changed either, even for a moment, is seen by a watcher thread and in the files written. The users run
together :data:`ROUNDS` times against one run of each alone (a race shows in some rounds only); the first
:data:`FAST_ROUNDS` are part of ``make test``, the rest ``slow``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import pytest

from emotune.app.engine import Engine
from emotune.app.settings import RunChoice
from tests.helpers.process_state import torch_threads_of_a_new_thread, umask

THREADS, UMASK = 2, 0o027
TIMING = ("processing_seconds", "realtime_factor", "stage_seconds")  # summary.json's clock readings
RESULT_FILES = ("timeline.csv", "playlist.json", "playlist.m3u", "summary.json", "timeline.png")
ROUNDS, FAST_ROUNDS = 10, 3


@pytest.fixture(scope="module")
def server_state() -> Iterator[None]:
    """The process as a server starts it (torch threads and umask set once), put back afterwards."""
    import os

    import torch

    threads, mask = torch.get_num_threads(), os.umask(UMASK)
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(threads)
    os.umask(mask)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, synth_root: Path, server_state: None) -> Engine:
    """The page's engine as test_app builds it: tiny data, T = 4, 2 s dwell, memory 2."""
    cache = tmp_path_factory.mktemp("concurrency_cache")
    infer = [f"paths.synthetic_dir={synth_root}", f"paths.cache_dir={cache}", "perceive.mc_samples=4",
             "matcher.min_dwell_s=2", "matcher.memory=2"]  # fmt: skip
    return Engine(infer, max_idle=6)


class Watcher:
    """Samples the umask and torch's thread count (as a new thread gets it) while the users run."""

    def __init__(self) -> None:
        self.seen: set[tuple[int, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen.add((torch_threads_of_a_new_thread(), umask()))
            time.sleep(0.002)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def read_json(path: Path) -> Any:
    """A JSON file with NaN and infinities kept as their names (NaN != NaN would fail any comparison)."""
    return json.loads(path.read_text(), parse_constant=str)


def result(out: Path) -> dict[str, Any]:
    """What a user gets, without the clock: the summary, the playlist, the timeline; the files' permissions."""
    summary = {k: v for k, v in read_json(out / "summary.json").items() if k not in TIMING}
    summary.pop("video", None)  # the uploaded file's path
    timeline = pd.read_csv(out / "timeline.csv")
    return {
        "summary": summary,
        "playlist": read_json(out / "playlist.json"),
        "timeline": timeline.astype(object).where(timeline.notna(), None).to_dict("list"),  # NaN != NaN: None
        "modes": {f: (out / f).stat().st_mode & 0o777 for f in RESULT_FILES},
    }


def clip_user(engine: Engine, choice: list[str], video: Path, render: bool) -> Callable[[Path], dict[str, Any]]:
    """A user who uploads ``video`` (the page's analyse_file, with or without the annotated video)."""

    def run(out: Path) -> dict[str, Any]:
        out.mkdir(parents=True)
        engine.analyse_file(choice, video, out, render, lambda f, d: None, threading.Event())
        r = result(out)
        if render:
            r["modes"]["annotated.mp4"] = (out / "annotated.mp4").stat().st_mode & 0o777
        return r

    return run


def webcam_user(engine: Engine, choice: list[str], frames: list[np.ndarray]) -> Callable[[Path], dict[str, Any]]:
    """A user who streams ``frames`` from the webcam at 4 a second, then ends the session."""

    def run(out: Path) -> dict[str, Any]:
        out.mkdir(parents=True)
        session = engine.live(choice, out, trail_s=20.0)
        try:
            for i, f in enumerate(frames):
                session.step(f, now=100.0 + 0.25 * i)
            session.finish(out)
        finally:
            session.close()
        return result(out)

    return run


def at_once(users: dict[str, Callable[[Path], dict[str, Any]]], root: Path) -> dict[str, dict[str, Any]]:
    """Every user in a thread of its own, started together (the page's worker threads)."""
    results: dict[str, dict[str, Any]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(users))

    def go(name: str, fn: Callable[[Path], dict[str, Any]]) -> None:
        try:
            start.wait()
            results[name] = fn(root / name)
        except BaseException as exc:  # reported below, with the others' results
            errors.append(exc)

    threads = [threading.Thread(target=go, args=item) for item in users.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    if errors:
        raise errors[0]
    return results


Users = dict[str, Callable[[Path], dict[str, Any]]]


@pytest.fixture(scope="module")
def users(engine: Engine, trained: dict[str, Path], synth_root: Path) -> Users:
    """Two clips (one with MTCNN and the annotated video, one guided) and a webcam stream of 24 frames."""
    clip = synth_root / "videos" / "clip.mp4"
    validate = list(RunChoice(str(trained["dir"]), "synthetic", "", "validate", "ema").overrides())
    guide = list(RunChoice(str(trained["dir"]), "synthetic", "", "guide", "kalman").overrides())
    cap, frames = cv2.VideoCapture(str(clip)), []
    while len(frames) < 24 and (ok_frame := cap.read())[0]:
        frames.append(cv2.cvtColor(ok_frame[1], cv2.COLOR_BGR2RGB))
    cap.release()
    return {
        "clip_mtcnn_rendered": clip_user(engine, [*validate, "detector=mtcnn"], clip, render=True),
        "clip_guide": clip_user(engine, guide, clip, render=False),
        "webcam": webcam_user(engine, validate, frames),
    }


@pytest.fixture(scope="module")
def alone(users: Users, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """What each user gets alone (one after another)."""
    root = tmp_path_factory.mktemp("alone")
    got = {name: fn(root / name) for name, fn in users.items()}
    assert got["clip_guide"]["summary"]["mode"] == "guide" and got["webcam"]["summary"]["frames_analysed"] == 24
    return got


@pytest.mark.parametrize(
    "round_", [*range(FAST_ROUNDS), *(pytest.param(r, marks=pytest.mark.slow) for r in range(FAST_ROUNDS, ROUNDS))]
)
def test_two_clips_and_a_webcam_at_once_get_what_each_gets_alone(
    users: Users, alone: dict[str, dict[str, Any]], tmp_path: Path, round_: int
) -> None:
    import torch

    threads, mask = torch.get_num_threads(), umask()
    assert (threads, mask) == (THREADS, UMASK)
    with Watcher() as watcher:
        together = at_once(users, tmp_path / "together")
    assert (torch.get_num_threads(), torch_threads_of_a_new_thread(), umask()) == (threads, threads, mask)
    assert watcher.seen == {(threads, mask)}, f"process state changed while the users ran: {sorted(watcher.seen)}"
    for name in users:
        assert together[name]["modes"] == dict.fromkeys(together[name]["modes"], 0o640), name
        assert alone[name]["modes"] == together[name]["modes"], name
        for part in ("summary", "playlist", "timeline"):
            assert together[name][part] == alone[name][part], (name, part)
