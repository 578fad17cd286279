"""What the page's buttons and the webcam do, without Gradio: each handler returns a :class:`PageResult`
(or the live view) and turns every failure into a message on the page, never a dead server.

Runs are built in a staging folder and renamed when complete (:class:`~emotune.app.runs.StagedRun`); a failed or
cancelled run leaves nothing in ``runs_dir``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from emotune.app import views
from emotune.app.listener import ListenerDesk, now_playing_html
from emotune.app.runs import Cancelled, StagedRun, check_upload, clean_staging, copy_song_audio, link_input
from emotune.app.settings import AppSettings, RunChoice, list_model_sets
from emotune.utils.cli import user_error
from emotune.utils.errors import DataError
from emotune.utils.io import write_json_atomic

if TYPE_CHECKING:  # the engine imports torch and the models: loaded on first use, after the page is up
    from emotune.app.engine import ClipOutcome, Engine, LiveSession

log = logging.getLogger(__name__)

DOWNLOADS = ("playlist.m3u", "playlist.json", "timeline.csv")


@dataclass
class PageResult:
    """Everything the results area shows after a clip, a webcam session or a manual mood."""

    status: str
    ok: bool = False
    run_dir: Path | None = None
    plot: Figure | None = None
    timeline: Path | None = None
    table: pd.DataFrame | None = None
    audio: list[tuple[str, Path]] = field(default_factory=list)  # (label, file) per song with audio
    video: Path | None = None
    downloads: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    now_playing: str | None = None  # the feedback row's line (``None``: unchanged)
    feedback_songs: list[str] | None = None  # the songs feedback may pick (a clip's playlist; ``None``: unchanged)


@dataclass
class _Running:
    """One session's analysis in progress: its cancel flag, whether it ended, the run folder it kept."""

    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    kept: Path | None = None


def failure(exc: BaseException, what: str) -> str:
    """The page's message for an exception: a user error's own line, else a short internal-error line."""
    if isinstance(exc, Cancelled):
        return "**Cancelled**: the run was stopped and its half-written folder removed; nothing was kept."
    err = user_error(exc)
    if err is not None:
        return views.error_status(str(err).splitlines()[0] if str(err) else type(err).__name__)
    log.exception("%s failed", what)
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return views.error_status(
        f"{what} failed inside the app ({type(exc).__name__}: {first}); the server log has the details."
    )


class Handlers:
    """The page's actions over one :class:`Engine` (shared by every browser session).

    Args:
        settings: ``conf/app.yaml``.
        engine: the chain adapter (built from ``settings`` when ``None``).
    """

    def __init__(self, settings: AppSettings, engine: Engine | None = None) -> None:
        self.s = settings
        self._engine = engine
        self._engine_lock = threading.Lock()
        self.s.runs_dir.mkdir(parents=True, exist_ok=True)
        removed = clean_staging(self.s.runs_dir)
        if removed:
            log.info("Removed %d stale staging folder(s) in %s", removed, self.s.runs_dir)
        self._lock = threading.Lock()
        self._cancels: dict[str, _Running] = {}  # session -> its running analysis
        self._live: dict[str, LiveSession] = {}
        self._live_count: dict[str, int] = {}
        self.desk = ListenerDesk(settings.store, settings.idle_s)  # the listener: feedback, the store (app/listener.py)

    @property
    def engine(self) -> Engine:
        """The chain adapter, built (and torch imported) on first use."""
        with self._engine_lock:
            if self._engine is None:
                from emotune.app.engine import Engine

                self._engine = Engine(self.s.infer, max_idle=self.s.concurrency + self.s.streams)
            return self._engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self._engine = engine

    # -- the settings row ---------------------------------------------------------------------------
    def model_sets(self) -> list[str]:
        """The model sets to offer: folders under ``models.search`` with checkpoints (the default first)."""
        return list_model_sets(self.s.models_search, self.s.models_default)

    def default_choice(self) -> RunChoice:
        """The choice the page opens with."""
        path = {"deam": self.s.deam_root, "csv": self.s.csv_path}.get(self.s.catalog_default, "")
        return RunChoice(self.s.models_default, self.s.catalog_default, path, self.s.matcher_mode, self.s.stabilizer)

    def preload(self) -> None:
        """Build the default chain (in the background at start); a failure is only logged."""
        try:
            scratch = self.s.runs_dir / ".staging" / "preload"
            self.engine.preload(self.default_choice().check().overrides(), scratch)
            log.info("Default pipeline ready.")
        except Exception as exc:  # the page opens anyway and says what is wrong on first use
            log.warning("Could not preload the default pipeline: %s", str(exc).splitlines()[0] if str(exc) else exc)

    # -- a clip ----------------------------------------------------------------------------------------
    def analyse(
        self,
        upload: str | None,
        choice: RunChoice,
        render: bool,
        session: str = "",
        progress: Callable[[float, str], None] | None = None,
        listener: str = "",
    ) -> PageResult:
        """Check the upload, run it through the chain into a new run folder, and show the results (``listener``: a
        name keeps the session and its feedback)."""
        report = progress or (lambda f, d: None)
        running = _Running()
        cancel = running.cancel
        with self._lock:
            self._cancels[session] = running
        try:
            video = check_upload(upload, self.s.max_upload_bytes)
            choice.check()

            def stage(frac: float, desc: str) -> None:
                if frac >= 1.0 and render:
                    desc = "rendering annotated.mp4 with its soundtrack"
                report(0.05 + 0.8 * frac, desc)

            t0 = time.perf_counter()
            who = self.desk.overrides(listener)
            with StagedRun(self.s.runs_dir) as run:
                source = link_input(video, run.path, Path(str(upload)).name)
                out = self.engine.analyse_file(choice.overrides(), source, run.path, render, stage, cancel, who)
                report(0.95, "copying the songs' audio")
                result = self._finish(run, out, "clip")
            self._clip_feedback(session, listener, out, result)
            log.info("Clip analysed in %.1f s -> %s", time.perf_counter() - t0, result.run_dir)
            result.summary["wall_seconds"] = round(time.perf_counter() - t0, 2)
            running.kept = result.run_dir
            return result
        except Exception as exc:  # every failure becomes a message; the server goes on
            return PageResult(failure(exc, "the analysis"))
        finally:
            running.done.set()
            with self._lock:
                if self._cancels.get(session) is running:
                    del self._cancels[session]

    def cancel(self, session: str = "", wait_s: float = 15.0) -> str:
        """Stop this session's running analysis (at its next frame) and wait for its folder to be removed."""
        with self._lock:
            running = self._cancels.get(session)
        if running is None:
            return "Nothing to cancel: no analysis is running for this page."
        running.cancel.set()
        if not running.done.wait(wait_s):
            return "**Cancelling**: the run stops after its current step (rendering); its folder is then removed."
        if running.kept is not None:
            return f"Too late to cancel: the run had finished (run folder `{running.kept.name}`)."
        return "**Cancelled**: the run was stopped and its half-written folder removed; nothing was kept."

    # -- the webcam ------------------------------------------------------------------------------------
    def live_frame(self, frame: np.ndarray | None, choice: RunChoice, session: str = "", listener: str = "") -> tuple[str, Any]:  # fmt: skip
        """One webcam frame: the live mood line (HTML) and the frame with the overlay (RGB)."""
        if frame is None:
            return views.live_html(None, "Waiting for the camera ..."), None
        try:
            sess = self._live_session(choice, session, listener)
            upd = sess.step(frame)
            with self._lock:
                self._live_count[session] = self._live_count.get(session, 0) + 1
                n = self._live_count[session]
            return views.live_html(upd, n=n), upd.overlay_rgb
        except Exception as exc:
            return views.live_html(None, failure(exc, "the webcam stream")), None

    def _live_session(self, choice: RunChoice, session: str, listener: str = "") -> LiveSession:
        overrides = choice.overrides()
        key = (*self.engine.key(overrides), self.desk.name(listener))
        self._sweep_idle()
        with self._lock:
            sess = self._live.get(session)
        if sess is not None and sess.key == key and not sess.closed:
            return sess
        if sess is not None:  # the settings or the listener changed: a new session on the new chain
            self.live_close(session)
        choice.check()
        self.desk.end_manual(session)
        sess = self.engine.live(overrides, self.s.runs_dir / ".staging" / "live", self.s.trail_s)
        sess.key = key
        try:
            sess.listening = self.desk.listening(listener, sess.pipeline.matcher, "webcam")
        except Exception:
            sess.close()
            raise
        with self._lock:
            self._live[session], self._live_count[session] = sess, 0
        return sess

    def _sweep_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [k for k, v in self._live.items() if now - v.last_seen > self.s.idle_s]
        for k in stale:
            log.info("Webcam session idle for %.0f s: pipeline given back.", self.s.idle_s)
            self.live_close(k)

    def live_end(self, session: str = "") -> PageResult:
        """End the webcam session: its playlist, timeline and figure in a new run folder."""
        with self._lock:
            sess = self._live.get(session)
        if sess is None:
            return PageResult("Nothing to end: start the webcam first (the Webcam tab).")
        try:
            with StagedRun(self.s.runs_dir) as run:
                out = sess.finish(run.path)
                result = self._finish(run, out, "webcam")
            return result
        except Exception as exc:
            return PageResult(failure(exc, "ending the webcam session"))
        finally:
            self.live_close(session)

    def live_close(self, session: str = "") -> None:
        """Forget a browser's webcam session (the tab closed, the settings changed or it went idle)."""
        with self._lock:
            sess = self._live.pop(session, None)
            self._live_count.pop(session, None)
        if sess is not None:
            sess.close()

    def close_session(self, session: str = "") -> None:
        """The browser tab closed: stop its analysis and give back its webcam chain."""
        with self._lock:
            running = self._cancels.get(session)
        if running is not None:
            running.cancel.set()
        self.live_close(session)
        self.desk.close(session)

    # -- feedback ------------------------------------------------------------------------------------------
    def feedback(self, event: str, session: str = "", pick: str | None = None) -> tuple[str | None, str]:
        """*Like*, *Skip* or *Dislike*: the *Now playing* line (``None``: unchanged) and a status line."""
        with self._lock:
            live = self._live.get(session)
        try:
            return self.desk.feedback(session, event, live, pick)
        except Exception as exc:
            return None, failure(exc, f"the {event}")

    def _clip_feedback(self, session: str, listener: str, out: ClipOutcome, result: PageResult) -> None:
        """After a clip: its playlist becomes the feedback row's target (:meth:`ListenerDesk.after_clip`)."""
        assert result.run_dir is not None
        result.now_playing, result.feedback_songs = self.desk.after_clip(session, listener, out, result.run_dir)

    # -- a manual mood ---------------------------------------------------------------------------------
    def manual(self, valence: float, arousal: float, choice: RunChoice, session: str = "", listener: str = "") -> PageResult:  # fmt: skip
        """MATCH from a mood set by hand (no face, no camera): the songs it chooses, held ``manual.horizon_s``; the
        first plays now in a manual session (feedback: a skip switches at once)."""
        try:
            choice.check()
            mood = np.array([float(valence), float(arousal)])
            if not np.all(np.isfinite(mood)) or np.any(np.abs(mood) > 1):
                raise DataError(f"valence={valence}, arousal={arousal}: both must lie in [-1, 1]; move the sliders.")
            self.live_close(session)
            live = self.desk.start_manual(session, self.engine, choice.overrides(), self.s.runs_dir / ".staging" / "live",
                                          listener, mood, self.s.manual_step_s)  # fmt: skip
            with StagedRun(self.s.runs_dir) as run:
                out = self.engine.manual(choice.overrides(), mood, self.s.manual_horizon_s, self.s.manual_step_s,
                                         run.path, live=live.matcher)  # fmt: skip
                result = self._finish(run, out, "manual", trail=mood[None, :])
            now = live.matcher.current
            song = None if now is None else live.matcher.catalog.song_meta(now.row)
            result.now_playing, result.feedback_songs = now_playing_html(song, "manual mood"), []
            return result
        except Exception as exc:
            return PageResult(failure(exc, "the manual mood"))

    # -- the results -----------------------------------------------------------------------------------
    def _finish(self, run: StagedRun, out: ClipOutcome, kind: str, trail: np.ndarray | None = None) -> PageResult:
        """Copy the songs' audio into the run, commit it, and read the results back from the written files."""
        playlist = json.loads((run.path / "playlist.json").read_text())
        songs, scale = playlist["songs"], playlist["scale"]
        audio = copy_song_audio(songs, run.path, self.s.players)
        source = next(run.path.glob("input*"), None)
        if kind == "clip" and source is not None:  # the summary names the input where it will lie
            data = json.loads((run.path / "summary.json").read_text())
            data["video"] = str(run.root / run.id / source.name)
            write_json_atomic(run.path / "summary.json", data)
        final = run.commit()
        if trail is None:
            tl = pd.read_csv(final / "timeline.csv", usecols=["stab_valence", "stab_arousal"])
            trail = tl.to_numpy()
        audio_final = [None if a is None else final / a.relative_to(run.path) for a in audio]
        title = {"clip": "Mood over the clip", "webcam": "Mood over the webcam session", "manual": "Manual mood"}[kind]
        plot = views.va_plane(trail, songs, scale, out.catalog_ref, f"{title}: {len(songs)} song(s)")
        status = views.clip_status(out.summary, final.name) if kind != "manual" else self._manual_status(songs, final)
        if kind == "webcam":
            status = status.replace("of video", "of webcam")
        labels = [
            (f"{i}. {views.song_title(s)} ({s['start_s']:.0f}-{s['end_s']:.0f} s)", a)
            for i, (s, a) in enumerate(zip(songs, audio_final), 1)
            if a is not None
        ]
        return PageResult(
            status=status,
            ok=True,
            run_dir=final,
            plot=plot,
            timeline=final / "timeline.png" if (final / "timeline.png").is_file() else None,
            table=views.playlist_table(songs, [a is not None for a in audio_final]),
            audio=labels,
            video=final / "annotated.mp4" if (final / "annotated.mp4").is_file() else None,
            downloads=[final / n for n in DOWNLOADS if (final / n).is_file()],
            summary=dict(out.summary),
        )

    @staticmethod
    def _manual_status(songs: list[dict[str, Any]], final: Path) -> str:
        names = ", ".join(views.song_title(s) for s in songs[:4]) + (" ..." if len(songs) > 4 else "")
        return f"**Manual mood**: {len(songs)} song(s) for this mood: {names}; run folder `{final.name}`."
