"""The page's one adapter to the runtime: everything the app asks of emotune's chain goes through here.

* a config: ``conf/infer.yaml`` composed with the page's overrides (:func:`emotune.runtime.compose.compose_resolved`);
* a chain: :func:`emotune.runtime.infer.build_pipeline`, kept in a pool so a request reuses loaded models but
  never shares a chain's state with another request;
* a clip: :func:`emotune.runtime.infer.run_video` (which writes the outputs with ``write_outputs`` and, with
  ``render=true``, ``render_annotated``);
* the webcam: ``Pipeline.reset()``, ``Pipeline.step([(t, frame_bgr)])`` per frame, ``Pipeline.finish(t)``, then
  ``write_outputs``;
* a manual mood: ``pipeline.matcher.update(t, va)``.

A change of those entry points costs an edit here and nowhere else in :mod:`emotune.app`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from omegaconf import DictConfig

from emotune.app.runs import Cancelled
from emotune.media.overlay import annotate, overlay_states
from emotune.media.video import VideoInfo, open_video_file
from emotune.pipeline.chain import Pipeline, TimelineRow
from emotune.pipeline.matcher import SongMatcher
from emotune.runtime.compose import compose_resolved
from emotune.runtime.infer import build_pipeline, run_video
from emotune.runtime.listening import Listening
from emotune.runtime.writers import VideoRun, playlist_entries, write_m3u, write_outputs
from emotune.utils.errors import DataError
from emotune.utils.io import write_json_atomic

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]


def infer_config(overrides: Sequence[str], out_dir: Path) -> DictConfig:
    """``conf/infer.yaml`` with ``overrides``, writing into ``out_dir``, fully resolved (no Hydra state needed later:
    :func:`~emotune.runtime.compose.compose_resolved` composes under its own lock)."""
    return compose_resolved("infer", ["video=app", *overrides], out_dir)


class PipelinePool:
    """Built chains by settings key: :meth:`lease` hands one out exclusively (building it when none is idle)
    and takes it back; at most ``max_idle`` idle chains are kept (the least recently used go first)."""

    def __init__(self, max_idle: int) -> None:
        self.max_idle = max_idle
        self._idle: OrderedDict[tuple, list[Pipeline]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: tuple, cfg: DictConfig) -> Pipeline:
        """An idle chain for ``key``, else a new one built from ``cfg``."""
        with self._lock:
            free = self._idle.get(key)
            if free:
                self._idle.move_to_end(key)
                return free.pop()
        t0 = time.perf_counter()
        pipeline = build_pipeline(cfg)
        log.info("Built a pipeline in %.1f s for %s", time.perf_counter() - t0, key)
        return pipeline

    def release(self, key: tuple, pipeline: Pipeline) -> None:
        """Give a chain back for the next request with the same settings (never with a listener attached)."""
        pipeline.matcher.attach(None)
        with self._lock:
            self._idle.setdefault(key, []).append(pipeline)
            self._idle.move_to_end(key)
            while sum(len(v) for v in self._idle.values()) > self.max_idle:
                oldest = next(iter(self._idle))
                self._idle[oldest].pop(0)
                if not self._idle[oldest]:
                    del self._idle[oldest]

    @contextlib.contextmanager
    def lease(self, key: tuple, cfg: DictConfig) -> Iterator[Pipeline]:
        """``acquire`` ... ``release`` around a block."""
        pipeline = self.acquire(key, cfg)
        try:
            yield pipeline
        finally:
            self.release(key, pipeline)

    def idle(self) -> int:
        """How many chains wait, built."""
        with self._lock:
            return sum(len(v) for v in self._idle.values())


class _WatchedCapture:
    """``cv2.VideoCapture`` that reports decoding progress and stops the chain when the run is cancelled."""

    def __init__(self, source: str, progress: ProgressFn, cancel: threading.Event) -> None:
        self._cap = open_video_file(source)
        self._progress, self._cancel = progress, cancel
        self._frames = max(1.0, float(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        self._n = 0

    def grab(self) -> bool:
        if self._cancel.is_set():
            raise Cancelled
        ok = self._cap.grab()
        self._n += 1
        if not ok:
            self._progress(1.0, "writing the outputs")
        elif self._n % 12 == 0:
            self._progress(min(self._n / self._frames, 1.0), "analysing frames")
        return ok

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cap, name)


@dataclass
class ClipOutcome:
    """What :meth:`Engine.analyse_file` leaves: the summary and the catalogue the songs came from."""

    summary: dict[str, Any]
    catalog_ref: np.ndarray  # (N, 2) every catalogue song on the reference plane
    personal: tuple[Any, Any] | None = None  # the matcher's (PersonalSettings, SongFeatures): feedback learned at once


class Engine:
    """The chain for the page: a pool of pipelines and the runtime calls (see the module docstring).

    Args:
        infer: overrides added to every run (``conf/app.yaml``'s ``infer``).
        max_idle: chains kept built between requests.
    """

    def __init__(self, infer: Sequence[str], max_idle: int) -> None:
        self.base = tuple(infer)
        self.pool = PipelinePool(max_idle)

    def config(self, choice: Sequence[str], out_dir: Path, render: bool = False) -> DictConfig:
        """The run's config: the page's choice, then ``infer`` (so a test or a local setting wins), then the app's."""
        return infer_config([*choice, *self.base, f"render={str(bool(render)).lower()}", "progress=false",
                             "display=false"], out_dir)  # fmt: skip

    def key(self, choice: Sequence[str]) -> tuple:
        """What decides the chain (not the output folder or render)."""
        return (*choice, *self.base)

    def preload(self, choice: Sequence[str], scratch: Path) -> None:
        """Build one chain for ``choice`` ahead of the first request."""
        cfg = self.config(choice, scratch)
        self.pool.release(self.key(choice), self.pool.acquire(self.key(choice), cfg))

    def analyse_file(
        self,
        choice: Sequence[str],
        video: Path,
        out_dir: Path,
        render: bool,
        progress: ProgressFn,
        cancel: threading.Event,
        listener: Sequence[str] = (),
    ) -> ClipOutcome:
        """One clip through the chain into ``out_dir`` (``run_video``: outputs and, with ``render``, the
        annotated video; ``listener``: the ``listener=`` and ``store.url=`` overrides of a named listener, whose
        session is then kept); raises :class:`Cancelled` when ``cancel`` is set."""
        cfg = self.config([*choice, *listener], out_dir, render)
        progress(0.0, "loading the models")
        with self.pool.lease(self.key(choice), cfg) as pipeline:

            def capture(source: str) -> _WatchedCapture:
                return _WatchedCapture(source, progress, cancel)

            summary = run_video(cfg, pipeline, str(video), out_dir, capture_factory=capture, progress=False)
            catalog_ref = pipeline.matcher.catalog.va_ref
            personal = (pipeline.matcher.personal, pipeline.matcher.song_features())
        if cancel.is_set():
            raise Cancelled
        return ClipOutcome(summary, catalog_ref, personal)

    def live(self, choice: Sequence[str], scratch: Path, trail_s: float) -> LiveSession:
        """A webcam session on its own chain (given back by :meth:`LiveSession.close`)."""
        key = self.key(choice)
        pipeline = self.pool.acquire(key, self.config(choice, scratch))
        return LiveSession(pipeline, lambda: self.pool.release(key, pipeline), key, trail_s)

    def manual(
        self,
        choice: Sequence[str],
        mood_ref: np.ndarray,
        horizon_s: float,
        step_s: float,
        out_dir: Path,
        live: SongMatcher | None = None,
    ) -> ClipOutcome:
        """MATCH alone: the matcher fed ``mood_ref`` (FindingEmo reference V-A) every ``step_s`` for ``horizon_s``;
        writes ``playlist.json`` and ``playlist.m3u`` into ``out_dir``. ``live``: a manual session's matcher at its
        first song: the playlist is what a copy of it plays on (with the listener's preferences, if any)."""
        mood = np.clip(np.asarray(mood_ref, dtype=np.float64), -1, 1)
        lease = (
            contextlib.nullcontext(None)
            if live is not None
            else self.pool.lease(self.key(choice), self.config(choice, out_dir))
        )
        with lease as pipeline:
            if live is not None:
                matcher = copy.deepcopy(live)  # the session goes on untouched
            else:
                assert pipeline is not None
                matcher = pipeline.matcher
                matcher.reset()
            for t in np.arange(0.0 if live is None else step_s, horizon_s, step_s):
                matcher.update(float(t), mood)
            songs = playlist_entries(matcher.finish(horizon_s), matcher.catalog)
            scale = matcher.catalog.scale.name
            report = matcher.report()
            catalog_ref = matcher.catalog.va_ref
            matcher.reset()
        summary = {"manual_mood": mood.round(3).tolist(), "horizon_s": horizon_s, "mode": matcher.mode, **report}
        write_json_atomic(out_dir / "playlist.json", {"scale": scale, "songs": songs})
        write_m3u(songs, out_dir / "playlist.m3u")
        write_json_atomic(out_dir / "summary.json", {**summary, "switches": max(0, len(songs) - 1)})
        return ClipOutcome(summary, catalog_ref)


@dataclass
class LiveUpdate:
    """The chain's answer to one webcam frame."""

    t_s: float
    mood: np.ndarray  # (2,) stabilized reference V-A
    held: bool
    face_found: bool
    song: dict[str, Any]  # song_meta + station + why
    overlay_rgb: np.ndarray
    chain_ms: float  # the time this frame took in the chain and the overlay


class LiveSession:
    """One browser's webcam stream through its own chain: ``reset()`` once, ``step`` per frame, ``finish``."""

    def __init__(self, pipeline: Pipeline, release: Callable[[], None], key: tuple, trail_s: float) -> None:
        self.pipeline, self._release, self.key, self.trail_s = pipeline, release, key, trail_s
        self.pipeline.reset()
        self.rows: list[TimelineRow] = []
        self.t0: float | None = None
        self.last_seen = time.monotonic()
        self.size = (0, 0)
        self.lock = threading.Lock()  # frames of one stream never overlap in the chain
        self.closed = False
        self.listening: Listening | None = None  # the listener's side (app/listener.py attaches it)

    def step(self, frame_rgb: np.ndarray, now: float | None = None) -> LiveUpdate:
        """Run one RGB frame (as the browser sends it) through PERCEIVE -> STABILIZE -> MATCH."""
        now = time.monotonic() if now is None else now
        t_start = time.perf_counter()
        with self.lock:
            if self.closed:
                raise DataError("this webcam session has ended; start the webcam again.")
            self.t0 = now if self.t0 is None else self.t0
            t = now - self.t0
            if self.rows and t <= self.rows[-1].t_s:
                t = self.rows[-1].t_s + 1e-3  # the chain needs increasing times
            bgr = np.ascontiguousarray(frame_rgb[..., :3][..., ::-1])
            self.size = (bgr.shape[1], bgr.shape[0])
            (row,) = self.pipeline.step([(t, bgr)])
            if self.listening is not None:
                self.listening.after_row(row)
            self.rows.append(row)
            self.last_seen = time.monotonic()
            catalog = self.pipeline.matcher.catalog
            recent = [r for r in self.rows[-int(self.trail_s * self.pipeline.fps * 2 + 2) :]]
            state = overlay_states(recent, catalog, self.trail_s)[-1]
            overlay = annotate(bgr, state)[..., ::-1]
        song = {**catalog.song_meta(row.play.row), "station": row.play.station, "why": row.play.why}
        return LiveUpdate(row.t_s, np.asarray(row.stabilized), bool(row.held), bool(row.perception.face_found), song,
                          np.ascontiguousarray(overlay), 1000 * (time.perf_counter() - t_start))  # fmt: skip

    def finish(self, out_dir: Path) -> ClipOutcome:
        """Close the playlist and write the session's outputs (``write_outputs``: timeline, playlist, figure)."""
        with self.lock:
            if not self.rows:
                raise DataError("the webcam sent no frame yet; start the webcam, then end the session.")
            p = self.pipeline
            video_s = self.rows[-1].t_s + 1.0 / p.fps
            playlist = p.finish(video_s)
            info = VideoInfo("webcam:browser", p.fps, 0, self.size[0], self.size[1], live=True)
            run = VideoRun("webcam:browser", info, list(self.rows), playlist, video_s, video_s, False,
                           p.stopwatch.as_dict())  # fmt: skip
            summary = write_outputs(out_dir, run, p)
            catalog_ref = p.matcher.catalog.va_ref
            if self.listening is not None:
                summary["listening"] = self.listening.summary()
                write_json_atomic(out_dir / "summary.json", summary)
                self.listening.finish(summary)
                self.listening = None
        return ClipOutcome(summary, catalog_ref)

    def feedback(self, event: str) -> dict[str, Any]:
        """The listener's skip, like or dislike of the song playing now; the song playing afterwards."""
        with self.lock:
            if self.closed or not self.rows or self.listening is None:
                raise DataError("the webcam has not started yet: start it, then give feedback on its song.")
            play = self.listening.feedback(self.rows[-1].t_s, event)
            return {**self.pipeline.matcher.catalog.song_meta(play.row), "why": play.why}

    def close(self) -> None:
        """Give the chain back to the pool (once); a listener's session not ended stays unfinished."""
        with self.lock:
            if not self.closed:
                self.closed = True
                if self.listening is not None:
                    self.listening.close()
                    self.listening = None
                self._release()
