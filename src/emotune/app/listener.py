"""The page's listener: who listens (the settings row's *Listener* box), their feedback on what plays, the store.

One :class:`ListenerDesk` per page (shared by every browser session). For each browser it knows what the *Like*,
*Skip* and *Dislike* buttons act on: the webcam session (its song now), the manual mood (a live session in wall-clock
time: a skip switches at once, as on the webcam) or the last analysed clip (a song picked from its playlist: the
feedback is kept and learned; the clip is not replayed). An empty name is nobody: feedback still switches songs, and
nothing is kept.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emotune.runtime.listening import Listening, fold_evidence
from emotune.store import ListenerStore, StoreSettings
from emotune.store.store import check_name
from emotune.utils.errors import DataError

if TYPE_CHECKING:  # torch and the models: loaded on first use, after the page is up
    from emotune.app.engine import Engine, LiveSession
    from emotune.pipeline.matcher import SongMatcher
    from emotune.pipeline.play import Play

log = logging.getLogger(__name__)

EVENTS = ("like", "skip", "dislike")


def now_playing_html(song: dict[str, Any] | None, note: str = "") -> str:
    """The *Now playing* line (``data-song``: the song id, for tests and scripts)."""
    if song is None:
        return f'<div class="now-playing" data-song="">{html.escape(note or "Nothing is playing.")}</div>'
    title = html.escape(str(song.get("title") or f"song {song['song_id']}"))
    artist = f" by {html.escape(str(song['artist']))}" if song.get("artist") else ""
    extra = f" <span class='live-count'>{html.escape(note)}</span>" if note else ""
    return (f'<div class="now-playing" data-song="{html.escape(str(song["song_id"]))}">Now playing: <b>{title}</b>'
            f"{artist} (song {html.escape(str(song['song_id']))}){extra}</div>")  # fmt: skip


@dataclass
class ManualSession:
    """A manual mood held on a leased chain's matcher in wall-clock time (``step_s`` per update)."""

    live: LiveSession
    listening: Listening
    mood: np.ndarray
    step_s: float
    t0: float = field(default_factory=time.monotonic)
    t: float = 0.0
    last_seen: float = field(default_factory=time.monotonic)

    @property
    def matcher(self) -> SongMatcher:
        """The session's matcher."""
        return self.live.pipeline.matcher

    def advance(self, now: float | None = None) -> Play:
        """Hold the mood up to ``now``; the song playing."""
        target = (time.monotonic() if now is None else now) - self.t0
        m = self.matcher
        while self.t + self.step_s <= target or m.current is None:
            self.t = self.t + self.step_s if m.current is not None else 0.0
            m.update(self.t, self.mood)
            self.listening.after_update(self.t, self.mood, None, None)
        self.last_seen = time.monotonic()
        assert m.current is not None
        return m.current

    def close(self) -> None:
        """Finish the session (kept when the listener is named) and give the chain back."""
        try:
            plays = self.matcher.finish(self.t)
            summary = {"mode": self.matcher.mode, "manual_mood": self.mood.round(3).tolist(), "seconds": self.t,
                       "songs": [p.song_id for p in plays], **self.listening.summary()}  # fmt: skip
            self.listening.finish(summary)
        finally:
            self.live.close()


@dataclass
class ClipFeedback:
    """An analysed clip's playlist, for feedback on its songs (``personal``: its matcher's settings and features,
    to learn from the feedback at once)."""

    listener: str
    session_id: int | None
    songs: list[dict[str, Any]]
    personal: tuple[Any, Any] | None


class ListenerDesk:
    """The store, and each browser's feedback target (see the module docstring).

    Args:
        store: ``conf/app.yaml``'s ``store`` (the same as every run's).
        idle_s: a manual session with no action for this long is finished.
    """

    def __init__(self, store: StoreSettings, idle_s: float) -> None:
        self.settings, self.idle_s = store, idle_s
        self._store: ListenerStore | None = None
        self._lock = threading.Lock()
        self._manual: dict[str, ManualSession] = {}
        self._clips: dict[str, ClipFeedback] = {}

    @property
    def store(self) -> ListenerStore:
        """The listener store (opened on first use: a bad ``store.url`` is a message, not a dead page)."""
        with self._lock:
            if self._store is None:
                self._store = ListenerStore.open(self.settings)
            return self._store

    @staticmethod
    def name(raw: str | None) -> str | None:
        """A checked listener name (``None``: nobody)."""
        return check_name(raw) if raw and raw.strip() else None

    def listening(self, listener: str | None, matcher: SongMatcher, source: str) -> Listening:
        """The listener's side of a new session on ``matcher``."""
        name = self.name(listener)
        return Listening(matcher, self.store if name else None, name, source=source)

    def overrides(self, listener: str | None) -> tuple[str, ...]:
        """The ``conf/infer.yaml`` overrides that keep a clip's session for ``listener``."""
        name = self.name(listener)
        if name is None:
            return ()
        from emotune.app.settings import quote

        return (f"listener={quote(name)}", f"store.url={quote(self.settings.url)}")

    # -- what the buttons act on ---------------------------------------------------------------------------------
    def start_manual(self, session: str, engine: Engine, choice: tuple[str, ...], scratch: Path, listener: str | None,
                     mood: np.ndarray, step_s: float) -> ManualSession:  # fmt: skip
        """A new manual session for this browser (the last one is finished first); its first song is chosen."""
        self.end_manual(session)
        self._sweep()
        live = engine.live(choice, scratch, 0.0)
        try:
            listening = self.listening(listener, live.pipeline.matcher, "manual")
        except Exception:
            live.close()
            raise
        sess = ManualSession(live, listening, np.asarray(mood, float), step_s)
        sess.advance(sess.t0)
        with self._lock:
            self._manual[session] = sess
            self._clips.pop(session, None)
        return sess

    def end_manual(self, session: str) -> None:
        """Finish this browser's manual session, if any."""
        with self._lock:
            sess = self._manual.pop(session, None)
        if sess is not None:
            sess.close()

    def set_clip(self, session: str, listener: str | None, summary: dict[str, Any], songs: list[dict[str, Any]],
                 personal: tuple[Any, Any] | None) -> None:  # fmt: skip
        """The last analysed clip's playlist becomes this browser's feedback target."""
        sid = (summary.get("listening") or {}).get("session")
        self.end_manual(session)
        with self._lock:
            self._clips[session] = ClipFeedback(self.name(listener) or "", sid, songs, personal)

    def after_clip(self, session: str, listener: str | None, out: Any, run_dir: Path) -> tuple[str, list[str]]:
        """An analysed clip (``out``: its :class:`~emotune.app.engine.ClipOutcome`) becomes this browser's feedback
        target; its stored session names its run folder. The *Now playing* line and the songs to pick from."""
        songs = json.loads((run_dir / "playlist.json").read_text())["songs"]
        self.set_clip(session, listener, out.summary, songs, out.personal)
        sid = (out.summary.get("listening") or {}).get("session")
        if sid is not None:
            self.store.set_run_dir(sid, str(run_dir))
        line = now_playing_html(songs[0] if songs else None, "pick a song of the playlist for feedback")
        return line, self.clip_choices(session)

    def clip_choices(self, session: str) -> list[str]:
        """The last clip's songs, as the feedback box lists them."""
        clip = self._clips.get(session)
        songs = [] if clip is None else clip.songs
        return [f"{i}. {s.get('title') or 'song'} ({s['song_id']})" for i, s in enumerate(songs, 1)]

    def _sweep(self) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [k for k, v in self._manual.items() if now - v.last_seen > self.idle_s]
        for k in stale:
            self.end_manual(k)

    def feedback(self, session: str, event: str, live: LiveSession | None, pick: str | None) -> tuple[str, str]:
        """Apply a button: the *Now playing* line and a status message."""
        if event not in EVENTS:
            raise DataError(f"event={event!r} is not one of {', '.join(EVENTS)}.")
        if live is not None and not live.closed and live.rows:
            if live.listening is None:
                raise DataError("the webcam session has no listener side yet; start the webcam again.")
            song = live.feedback(event)
            return now_playing_html(song, f"after your {event}"), f"**{event.capitalize()}** on the webcam session."
        manual = self._manual.get(session)
        if manual is not None:
            manual.advance()
            play = manual.listening.feedback(manual.t, event)
            song = manual.matcher.catalog.song_meta(play.row)
            return now_playing_html(song, f"after your {event}"), f"**{event.capitalize()}** on the manual mood's song."
        clip = self._clips.get(session)
        if clip is not None:
            return self._clip_feedback(clip, event, pick)
        raise DataError(
            "nothing is playing: start the webcam, choose songs for a manual mood, or analyse a clip first."
        )

    def _clip_feedback(self, clip: ClipFeedback, event: str, pick: str | None) -> tuple[str, str]:
        index = 0
        if pick:
            index = int(str(pick).split(".", 1)[0]) - 1
        if not 0 <= index < len(clip.songs):
            raise DataError("pick a song of the clip's playlist first.")
        song = clip.songs[index]
        if not clip.listener or clip.session_id is None:
            return (now_playing_html(song, "no listener: nothing kept"),
                    f"**{event.capitalize()}** noted for this page only: type a name in *Listener* to keep feedback.")  # fmt: skip
        store = self.store
        lid = store.listener_id(clip.listener, create=True)
        assert lid is not None
        mood = song.get("why", {}).get("mood")
        fid = store.add_feedback(lid, clip.session_id, str(song["song_id"]), event, float(song["start_s"]), mood)
        if clip.personal is not None:
            personal, features = clip.personal
            store.fold(lid, [], lambda rows, ev: fold_evidence(personal, features, rows, ev), [fid])
        return now_playing_html(
            song, f"{event} kept"
        ), f"**{event.capitalize()}** kept for {clip.listener}: song {song['song_id']}."

    def close(self, session: str) -> None:
        """The browser went away: finish its manual session, forget its clip."""
        self.end_manual(session)
        with self._lock:
            self._clips.pop(session, None)
